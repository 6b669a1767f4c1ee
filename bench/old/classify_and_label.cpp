// THE OLD DESIGN, kept only as the benchmarks' baseline (bench/run.py compiles it).
// Never deploy this: it is what cpu-alert-labeler replaced.
//
// One process per alert: the Flask app (bench/old/app.py) runs this program through
// a shell; it classifies the alert and shells out again to `kubectl label`.  Every
// argument is pasted into a shell command line unquoted: a pod label such as
// `x;rm -rf ~` would run.  That, and a fork/exec of two shells, this program and
// kubectl (with its own discovery requests) per alert, is why it was replaced.
//
// usage: classify_and_label ALERTNAME CPU STATUS POD NAMESPACE
#include <cstdlib>
#include <iostream>
#include <string>

static std::string classify(const std::string &alertname, const std::string &cpu,
                            const std::string &status) {
    if (status == "resolved") return "normal";
    if (alertname == "PodCpuNormal") return "normal";
    if (alertname == "PodHighCpuUsage") return "moderate";
    if (alertname == "PodCpuFailure") return "panne";
    double pct = std::atof(cpu.c_str());
    if (pct < 33.0) return "normal";
    if (pct < 66.0) return "moderate";
    return "panne";
}

int main(int argc, char **argv) {
    if (argc < 6) {
        std::cerr << "usage: " << argv[0] << " ALERTNAME CPU STATUS POD NAMESPACE\n";
        return 2;
    }
    std::string value = classify(argv[1], argv[2], argv[3]);
    std::string cmd = "kubectl label pod " + std::string(argv[4]) + " status=" + value +
                      " --overwrite -n " + std::string(argv[5]);
    // Bench plumbing, the only addition to the old program: point kubectl at the
    // bench's API server and a private discovery cache instead of ~/.kube.
    if (const char *kubeconfig = std::getenv("KUBECONFIG")) cmd += std::string(" --kubeconfig ") + kubeconfig;
    if (const char *cache = std::getenv("KUBECTL_CACHE_DIR")) cmd += std::string(" --cache-dir ") + cache;
    int rc = std::system(cmd.c_str());
    if (rc != 0) std::cerr << "kubectl label failed for " << argv[4] << "\n";
    return rc == 0 ? 0 : 1;
}
