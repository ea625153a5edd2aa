#pragma once

#include <functional>
#include <string>

#include "collector/metrics.h"
#include "collector/query.h"

namespace httplib {
class Server;
}

namespace meshtrace::collector {

// Routes of the HTTP server: the JSON API (/api/v1/traces, /api/v1/traces/{id},
// /api/v1/traces/{id}/report.html, /api/v1/traces/{id}/hops/{envelope_id},
// /api/v1/envelopes/{id}, /api/v1/diff), the web UI at /, /metrics, /healthz and /readyz.
// Errors are JSON {"error": "..."}: 400 names the bad parameter, 404 the unknown id, 401 a
// missing token. With `token` set, every route except /healthz and /readyz needs
// "Authorization: Bearer <token>", the cookie meshtrace_token, or ?token= (which sets the
// cookie, for browsers).
void RegisterHttpApi(httplib::Server* server, const QueryEngine* engine, CollectorMetrics* metrics,
                     std::string token, std::function<bool()> ready, Clock* clock);

// The web UI page: recent traces with filters and search, each linking to its report.
const char* UiPage();

}  // namespace meshtrace::collector
