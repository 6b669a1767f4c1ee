// Unit tests of the C interface, run by `make test` (no framework: a table and asserts).
#include "classifier.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>

static int failures = 0;

#define CHECK(cond)                                                                 \
    do {                                                                            \
        if (!(cond)) {                                                              \
            std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            ++failures;                                                             \
        }                                                                           \
    } while (0)

static cal_rules *default_rules() {
    cal_rules *rules = nullptr;
    CHECK(cal_rules_new(33, 66, &rules) == CAL_OK);
    CHECK(cal_rules_map_name(rules, "PodCpuNormal", CAL_NORMAL) == CAL_OK);
    CHECK(cal_rules_map_name(rules, "PodHighCpuUsage", CAL_MODERATE) == CAL_OK);
    CHECK(cal_rules_map_name(rules, "PodCpuFailure", CAL_CRITICAL) == CAL_OK);
    return rules;
}

static int classify(const cal_rules *rules, const char *name, const char *cpu) {
    int8_t level = 99;
    CHECK(cal_classify(rules, 1, &name, &cpu, &level) == CAL_OK);
    return level;
}

static void test_percent_parsing() {
    struct { const char *text; int rc; double value; } cases[] = {
        {"92", CAL_OK, 92}, {"92.5", CAL_OK, 92.5}, {"92%", CAL_OK, 92}, {" 7.25 % ", CAL_OK, 7.25},
        {"0", CAL_OK, 0}, {".5", CAL_OK, 0.5}, {"5.", CAL_OK, 5}, {"250", CAL_OK, 250},
        {"", CAL_EINVAL, 0}, {"%", CAL_EINVAL, 0}, {"abc", CAL_EINVAL, 0}, {"nan", CAL_EINVAL, 0},
        {"inf", CAL_EINVAL, 0}, {"-5", CAL_EINVAL, 0}, {"+5", CAL_EINVAL, 0}, {"1e3", CAL_EINVAL, 0},
        {"0x10", CAL_EINVAL, 0}, {"1.2.3", CAL_EINVAL, 0}, {"92%%", CAL_EINVAL, 0}, {"9 2", CAL_EINVAL, 0},
    };
    for (const auto &c : cases) {
        double value = -1;
        int rc = cal_parse_percent(c.text, &value);
        if (rc != c.rc) std::fprintf(stderr, "parse(\"%s\") = %d, want %d\n", c.text, rc, c.rc);
        CHECK(rc == c.rc);
        if (c.rc == CAL_OK) CHECK(value == c.value);
    }
    std::string overlong(CAL_MAX_PERCENT + 1, '1');
    double value;
    CHECK(cal_parse_percent(overlong.c_str(), &value) == CAL_EINVAL);
    std::string longest(CAL_MAX_PERCENT, '1');  // exactly at the bound: still read
    CHECK(cal_parse_percent(longest.c_str(), &value) == CAL_OK);
    CHECK(cal_parse_percent(nullptr, &value) == CAL_EINVAL);
}

static void test_names_win_over_cpu() {
    cal_rules *rules = default_rules();
    CHECK(classify(rules, "PodCpuNormal", "99") == CAL_NORMAL);
    CHECK(classify(rules, "PodHighCpuUsage", nullptr) == CAL_MODERATE);
    CHECK(classify(rules, "PodCpuFailure", "1") == CAL_CRITICAL);
    CHECK(classify(rules, "podcpufailure", nullptr) == CAL_UNCLASSIFIED);  // names are exact
    cal_rules_free(rules);
}

static void test_thresholds() {
    cal_rules *rules = default_rules();
    struct { const char *cpu; int level; } cases[] = {
        {"0", CAL_NORMAL}, {"32.99", CAL_NORMAL}, {"33", CAL_MODERATE}, {"65.9", CAL_MODERATE},
        {"66", CAL_CRITICAL}, {"100%", CAL_CRITICAL}, {"400", CAL_CRITICAL},
        {"NaN", CAL_UNCLASSIFIED}, {"-1", CAL_UNCLASSIFIED}, {"high", CAL_UNCLASSIFIED},
    };
    for (const auto &c : cases) CHECK(classify(rules, "OtherAlert", c.cpu) == c.level);
    CHECK(classify(rules, "OtherAlert", nullptr) == CAL_UNCLASSIFIED);
    CHECK(classify(rules, nullptr, nullptr) == CAL_UNCLASSIFIED);
    cal_rules_free(rules);
}

static void test_batch() {
    cal_rules *rules = default_rules();
    const char *names[] = {"PodCpuFailure", "X", "X", nullptr};
    const char *cpu[] = {nullptr, "10", "50%", "abc"};
    int8_t levels[4] = {9, 9, 9, 9};
    CHECK(cal_classify(rules, 4, names, cpu, levels) == CAL_OK);
    CHECK(levels[0] == CAL_CRITICAL && levels[1] == CAL_NORMAL);
    CHECK(levels[2] == CAL_MODERATE && levels[3] == CAL_UNCLASSIFIED);
    CHECK(cal_classify(rules, 0, nullptr, nullptr, nullptr) == CAL_OK);
    CHECK(cal_classify(rules, 1, nullptr, cpu, levels) == CAL_EINVAL);
    cal_rules_free(rules);
}

static void test_bad_arguments() {
    cal_rules *rules = nullptr;
    CHECK(cal_rules_new(66, 33, &rules) == CAL_ETHRESHOLD && rules == nullptr);
    CHECK(cal_rules_new(-1, 33, &rules) == CAL_ETHRESHOLD);
    CHECK(cal_rules_new(NAN, 33, &rules) == CAL_ETHRESHOLD);
    CHECK(cal_rules_new(10, INFINITY, &rules) == CAL_ETHRESHOLD);
    CHECK(cal_rules_new(10, 10, &rules) == CAL_ETHRESHOLD);
    CHECK(cal_rules_new(10, 20, nullptr) == CAL_EINVAL);
    rules = default_rules();
    CHECK(cal_rules_map_name(rules, "A", 3) == CAL_ELEVEL);
    CHECK(cal_rules_map_name(rules, "A", CAL_UNCLASSIFIED) == CAL_ELEVEL);
    CHECK(cal_rules_map_name(rules, "", CAL_NORMAL) == CAL_ENAME);
    std::string overlong(CAL_MAX_NAME + 1, 'a');
    CHECK(cal_rules_map_name(rules, overlong.c_str(), CAL_NORMAL) == CAL_ENAME);
    std::string longest(CAL_MAX_NAME, 'b');  // exactly at the bound: mapped and found
    CHECK(cal_rules_map_name(rules, longest.c_str(), CAL_CRITICAL) == CAL_OK);
    CHECK(classify(rules, longest.c_str(), nullptr) == CAL_CRITICAL);
    CHECK(classify(rules, overlong.c_str(), "1") == CAL_NORMAL);  // name not read, CPU is
    CHECK(cal_classify(nullptr, 0, nullptr, nullptr, nullptr) == CAL_EINVAL);
    cal_rules_free(rules);
    cal_rules_free(nullptr);
}

static void test_strerror() {
    for (int code = CAL_OK; code <= CAL_ENOMEM; ++code)
        CHECK(std::strcmp(cal_strerror(code), "unknown error") != 0);
    CHECK(std::strcmp(cal_strerror(12345), "unknown error") == 0);
}

int main() {
    test_percent_parsing();
    test_names_win_over_cpu();
    test_thresholds();
    test_batch();
    test_bad_arguments();
    test_strerror();
    if (failures) {
        std::fprintf(stderr, "native: %d check(s) failed\n", failures);
        return 1;
    }
    std::puts("native: all checks passed");
    return 0;
}
