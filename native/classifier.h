/*
 * cal_classifier: classify CPU alerts into levels, a batch at a time.
 *
 * A plain C interface (extern "C", fixed-size types, caller-owned buffers,
 * int return codes, cal_strerror) so that cffi can bind it in API mode and
 * so that no C++ exception or allocation ever crosses into Python.
 */
#ifndef CAL_CLASSIFIER_H
#define CAL_CLASSIFIER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
#define CAL_NOEXCEPT noexcept
extern "C" {
#else
#define CAL_NOEXCEPT
#endif

/* Levels written into the caller's output buffer. */
#define CAL_UNCLASSIFIED (-1)
#define CAL_NORMAL 0
#define CAL_MODERATE 1
#define CAL_CRITICAL 2

/* Return codes. */
#define CAL_OK 0
#define CAL_EINVAL 1     /* a NULL pointer or an out-of-range argument */
#define CAL_ETHRESHOLD 2 /* thresholds not finite, negative or not increasing */
#define CAL_ELEVEL 3     /* a level that is not NORMAL, MODERATE or CRITICAL */
#define CAL_ENAME 4      /* an empty or overlong alert name */
#define CAL_ENOMEM 5     /* allocation failed */

/* Longest alert name and CPU text the classifier looks at, in bytes. */
#define CAL_MAX_NAME 256
#define CAL_MAX_PERCENT 32

typedef struct cal_rules cal_rules;

/* Create rules: cpu < moderate_pct is normal, < critical_pct moderate, else critical. */
int cal_rules_new(double moderate_pct, double critical_pct, cal_rules **out) CAL_NOEXCEPT;

/* Map an alert name to a level; the name wins over the CPU annotation. */
int cal_rules_map_name(cal_rules *rules, const char *alertname, int32_t level) CAL_NOEXCEPT;

void cal_rules_free(cal_rules *rules) CAL_NOEXCEPT;

/*
 * Classify n alerts. names[i] and cpu[i] may be NULL (no name, no annotation).
 * levels[i] receives a level or CAL_UNCLASSIFIED.
 */
int cal_classify(const cal_rules *rules, size_t n, const char *const *names,
                 const char *const *cpu, int8_t *levels) CAL_NOEXCEPT;

/* Parse "92", "92.5", "92%" (surrounding blanks allowed). 0 on success. */
int cal_parse_percent(const char *text, double *out) CAL_NOEXCEPT;

/* A static message for a return code. */
const char *cal_strerror(int code) CAL_NOEXCEPT;

#ifdef __cplusplus
}
#endif

#endif
