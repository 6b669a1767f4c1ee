// cal_classifier: the implementation behind classifier.h.
//
// Every entry point is noexcept: an allocation failure becomes CAL_ENOMEM, and any
// exception that still escaped would terminate rather than unwind through cffi's C frames.
#include "classifier.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <new>
#include <string>
#include <string_view>
#include <unordered_map>

struct cal_rules {
    double moderate;
    double critical;
    std::unordered_map<std::string, int8_t> by_name;
};

namespace {

bool valid_level(int32_t level) {
    return level == CAL_NORMAL || level == CAL_MODERATE || level == CAL_CRITICAL;
}

bool is_blank(char c) { return c == ' ' || c == '\t'; }

// A bounded strlen: text longer than limit is not looked at.
bool bounded_view(const char *text, size_t limit, std::string_view &out) {
    const void *end = std::memchr(text, '\0', limit + 1);
    if (end == nullptr) return false;
    out = std::string_view(text, static_cast<const char *>(end) - text);
    return true;
}

// Plain decimal only: digits with an optional fraction. from_chars alone would
// also take "inf", "nan", exponents and a sign, none of which a CPU reading is.
bool plain_decimal(std::string_view s) {
    size_t digits = 0, dots = 0;
    for (char c : s) {
        if (c >= '0' && c <= '9') ++digits;
        else if (c == '.' && ++dots == 1) continue;
        else return false;
    }
    return digits > 0;
}

int8_t level_for(const cal_rules &rules, double pct) {
    if (pct < rules.moderate) return CAL_NORMAL;
    if (pct < rules.critical) return CAL_MODERATE;
    return CAL_CRITICAL;
}

int8_t classify_one(const cal_rules &rules, const char *name, const char *cpu) {
    std::string_view key;
    if (name != nullptr && bounded_view(name, CAL_MAX_NAME, key)) {
        // Heterogeneous lookup needs C++20; a short-lived string is cheap enough.
        auto it = rules.by_name.find(std::string(key));
        if (it != rules.by_name.end()) return it->second;
    }
    double pct;
    if (cpu != nullptr && cal_parse_percent(cpu, &pct) == CAL_OK) return level_for(rules, pct);
    return CAL_UNCLASSIFIED;
}

}  // namespace

extern "C" {

int cal_parse_percent(const char *text, double *out) noexcept {
    if (text == nullptr || out == nullptr) return CAL_EINVAL;
    std::string_view s;
    if (!bounded_view(text, CAL_MAX_PERCENT, s)) return CAL_EINVAL;
    while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
    if (!s.empty() && s.back() == '%') s.remove_suffix(1);
    while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
    if (!plain_decimal(s)) return CAL_EINVAL;
    double value = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    if (ec != std::errc() || end != s.data() + s.size() || !std::isfinite(value)) return CAL_EINVAL;
    *out = value;
    return CAL_OK;
}

int cal_rules_new(double moderate_pct, double critical_pct, cal_rules **out) noexcept {
    if (out == nullptr) return CAL_EINVAL;
    *out = nullptr;
    if (!std::isfinite(moderate_pct) || !std::isfinite(critical_pct) || moderate_pct < 0 ||
        moderate_pct >= critical_pct)
        return CAL_ETHRESHOLD;
    auto *rules = new (std::nothrow) cal_rules;
    if (rules == nullptr) return CAL_ENOMEM;
    rules->moderate = moderate_pct;
    rules->critical = critical_pct;
    *out = rules;
    return CAL_OK;
}

int cal_rules_map_name(cal_rules *rules, const char *alertname, int32_t level) noexcept {
    if (rules == nullptr || alertname == nullptr) return CAL_EINVAL;
    if (!valid_level(level)) return CAL_ELEVEL;
    std::string_view name;
    if (!bounded_view(alertname, CAL_MAX_NAME, name) || name.empty()) return CAL_ENAME;
    try {
        rules->by_name[std::string(name)] = static_cast<int8_t>(level);
    } catch (const std::bad_alloc &) {
        return CAL_ENOMEM;
    }
    return CAL_OK;
}

void cal_rules_free(cal_rules *rules) noexcept { delete rules; }

int cal_classify(const cal_rules *rules, size_t n, const char *const *names,
                 const char *const *cpu, int8_t *levels) noexcept {
    if (rules == nullptr || (n > 0 && (names == nullptr || cpu == nullptr || levels == nullptr)))
        return CAL_EINVAL;
    try {
        for (size_t i = 0; i < n; ++i) levels[i] = classify_one(*rules, names[i], cpu[i]);
    } catch (const std::bad_alloc &) {
        return CAL_ENOMEM;
    }
    return CAL_OK;
}

const char *cal_strerror(int code) noexcept {
    switch (code) {
        case CAL_OK: return "success";
        case CAL_EINVAL: return "invalid argument";
        case CAL_ETHRESHOLD:
            return "thresholds must be finite, non-negative and moderate < critical";
        case CAL_ELEVEL: return "level must be normal (0), moderate (1) or critical (2)";
        case CAL_ENAME: return "alert name must be 1 to 256 bytes";
        case CAL_ENOMEM: return "out of memory";
        default: return "unknown error";
    }
}

}  // extern "C"
