// libFuzzer harness for the C API of classifier.h, built with ASan and UBSan (`make fuzz-native`).
//
// Each input becomes one whole use of the API: thresholds, a few name mappings, a batch of
// alerts (names and CPU texts that may be NULL, longer than their limit, or hold a NUL),
// one batch call, then every alert again one at a time.  Memory errors and
// undefined behaviour are the sanitizers' to catch; this file checks what they cannot: each
// return code and each level against a model of the documented contract written here
// independently of classifier.cpp (an std::map of names, a hand-written percent reader).
// A mismatch aborts, which libFuzzer reports as a crash with the input that caused it.
#include "../classifier.h"

#include <fuzzer/FuzzedDataProvider.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

namespace {

void require(bool ok, const char *what) {
    if (!ok) {
        std::fprintf(stderr, "contract broken: %s\n", what);
        std::abort();
    }
}

// The C view of a string: up to its first NUL.
std::string c_view(const std::string &s) { return std::string(s.c_str()); }

bool blank(char c) { return c == ' ' || c == '\t'; }

// The documented percent format: blanks, digits with at most one '.', at least one digit,
// an optional '%', blanks; at most CAL_MAX_PERCENT bytes.  Returns whether it is one.
bool model_percent(const std::string &text, double *value) {
    std::string s = c_view(text);
    if (s.size() > CAL_MAX_PERCENT) return false;
    size_t b = 0, e = s.size();
    while (b < e && blank(s[b])) ++b;
    while (e > b && blank(s[e - 1])) --e;
    if (e > b && s[e - 1] == '%') --e;
    while (e > b && blank(s[e - 1])) --e;
    size_t digits = 0, dots = 0;
    for (size_t i = b; i < e; ++i) {
        if (s[i] >= '0' && s[i] <= '9') ++digits;
        else if (s[i] == '.') ++dots;
        else return false;
    }
    if (digits == 0 || dots > 1) return false;
    *value = std::strtod(s.substr(b, e - b).c_str(), nullptr);
    return std::isfinite(*value);
}

double pick_threshold(FuzzedDataProvider &in) {
    switch (in.ConsumeIntegralInRange<int>(0, 3)) {
        case 0: return in.ConsumeFloatingPoint<double>();  // anything, NaN and inf included
        case 1: return in.ConsumeFloatingPointInRange<double>(-10, 200);
        default: return static_cast<double>(in.ConsumeIntegralInRange<int>(0, 120));
    }
}

struct Alert {
    bool has_name, has_cpu;
    std::string name, cpu;
};

int8_t model_level(const std::map<std::string, int8_t> &names, double moderate, double critical,
                   const Alert &a) {
    if (a.has_name) {
        std::string key = c_view(a.name);
        if (key.size() <= CAL_MAX_NAME) {
            auto it = names.find(key);
            if (it != names.end()) return it->second;
        }
    }
    double pct;
    if (a.has_cpu && model_percent(a.cpu, &pct))
        return pct < moderate ? CAL_NORMAL : pct < critical ? CAL_MODERATE : CAL_CRITICAL;
    return CAL_UNCLASSIFIED;
}

void check_percent(const std::string &text) {
    double got = -1, want = 0;
    int rc = cal_parse_percent(text.c_str(), &got);
    bool ok = model_percent(text, &want);
    require((rc == CAL_OK) == ok, "cal_parse_percent accepts exactly the documented format");
    require(!ok || got == want, "cal_parse_percent reads the value the text says");
    require(cal_parse_percent(text.c_str(), nullptr) == CAL_EINVAL, "NULL out is EINVAL");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    FuzzedDataProvider in(data, size);
    const char *message = cal_strerror(in.ConsumeIntegral<int>());
    require(message != nullptr && message[0] != '\0', "cal_strerror always gives a message");

    double moderate = pick_threshold(in), critical = pick_threshold(in);
    cal_rules *rules = nullptr;
    int rc = cal_rules_new(moderate, critical, &rules);
    bool valid = std::isfinite(moderate) && std::isfinite(critical) && moderate >= 0 &&
                 moderate < critical;
    require((rc == CAL_OK) == valid, "cal_rules_new accepts exactly valid thresholds");
    require((rules != nullptr) == valid, "rules exist exactly when created");
    if (!valid) {
        require(rc == CAL_ETHRESHOLD, "bad thresholds are CAL_ETHRESHOLD");
        check_percent(in.ConsumeRandomLengthString(64));
        return 0;
    }

    std::map<std::string, int8_t> names;
    for (int i = in.ConsumeIntegralInRange<int>(0, 6); i > 0; --i) {
        std::string name = in.ConsumeRandomLengthString(CAL_MAX_NAME + 8);
        int32_t level = in.ConsumeIntegralInRange<int32_t>(-2, 4);
        int got = cal_rules_map_name(rules, name.c_str(), level);
        std::string key = c_view(name);
        int want = (level < 0 || level > 2) ? CAL_ELEVEL
                   : (key.empty() || key.size() > CAL_MAX_NAME) ? CAL_ENAME : CAL_OK;
        require(got == want, "cal_rules_map_name's return code");
        if (want == CAL_OK) names[key] = static_cast<int8_t>(level);
    }

    std::vector<Alert> alerts(in.ConsumeIntegralInRange<size_t>(0, 24));
    for (Alert &a : alerts) {
        a.has_name = in.ConsumeBool();
        a.name = in.ConsumeRandomLengthString(CAL_MAX_NAME + 8);
        a.has_cpu = in.ConsumeBool();
        a.cpu = in.ConsumeRandomLengthString(48);
    }
    std::vector<const char *> name_ptrs, cpu_ptrs;
    for (const Alert &a : alerts) {
        name_ptrs.push_back(a.has_name ? a.name.c_str() : nullptr);
        cpu_ptrs.push_back(a.has_cpu ? a.cpu.c_str() : nullptr);
        if (a.has_cpu) check_percent(a.cpu);
    }
    std::vector<int8_t> levels(alerts.size(), 99);
    size_t n = alerts.size();
    rc = cal_classify(rules, n, n ? name_ptrs.data() : nullptr, n ? cpu_ptrs.data() : nullptr,
                      n ? levels.data() : nullptr);
    require(rc == CAL_OK, "cal_classify succeeds on valid arguments");
    for (size_t i = 0; i < n; ++i) {
        require(levels[i] == model_level(names, moderate, critical, alerts[i]),
                "each level is the model's");
        int8_t one = 99;
        require(cal_classify(rules, 1, &name_ptrs[i], &cpu_ptrs[i], &one) == CAL_OK &&
                    one == levels[i], "one at a time gives the batch's level");
    }
    if (n > 0)
        require(cal_classify(rules, n, nullptr, cpu_ptrs.data(), levels.data()) == CAL_EINVAL &&
                    cal_classify(nullptr, n, name_ptrs.data(), cpu_ptrs.data(), levels.data()) ==
                        CAL_EINVAL, "NULL arrays or rules are CAL_EINVAL");
    cal_rules_free(rules);
    return 0;
}
