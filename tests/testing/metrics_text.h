#pragma once

#include <string>

namespace meshtrace::testing {

// The value of one series (name with its labels in sorted order, as exposed) in a Prometheus
// text exposition; 0 when absent.
double MetricValue(const std::string& text, const std::string& series);

}  // namespace meshtrace::testing
