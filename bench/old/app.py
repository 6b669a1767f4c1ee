"""THE OLD DESIGN, kept only as the benchmarks' baseline; never deploy it.

A Flask app with an /alert route that, for each alert of the webhook, runs the
compiled classify_and_label program through the shell (shell=True, arguments
pasted in unquoted: open to shell injection through any label), which itself
shells out to `kubectl label`.  Served by Flask's own server, as it was.
bench.run starts it with OLD_CLASSIFIER (the compiled program), KUBECONFIG,
KUBECTL_CACHE_DIR and PORT set, on 127.0.0.1.
"""

import os
import subprocess

from flask import Flask, request

app = Flask(__name__)
CLASSIFIER = os.environ.get("OLD_CLASSIFIER", "./classify_and_label")


@app.route("/alert", methods=["POST"])
def alert():
    data = request.get_json(force=True)
    for item in data.get("alerts", []):
        labels = item.get("labels", {})
        pod = labels.get("pod")
        if not pod:
            continue
        namespace = labels.get("namespace", "default")
        alertname = labels.get("alertname", "")
        cpu = item.get("annotations", {}).get("cpu_usage", "0")
        status = item.get("status", "firing")
        subprocess.run(f"{CLASSIFIER} {alertname} {cpu} {status} {pod} {namespace}", shell=True)
    return "OK", 200


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.environ.get("PORT", "5000")))
