#include "replayer/reports.h"

#include <cctype>
#include <filesystem>
#include <fstream>

#include "absl/time/time.h"
#include "common/clock.h"
#include "common/html.h"

namespace meshtrace::replayer {
namespace {

std::string FileNameFor(const std::string& trace_id) {
  std::string file;
  for (char c : trace_id) {
    file += std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' ? c : '_';
  }
  return file + ".html";
}

}  // namespace

bool WriteFile(const std::string& path, const std::string& body) {
  std::ofstream out(path, std::ios::binary);
  out << body;
  return static_cast<bool>(out);
}

absl::StatusOr<FailedReports> WriteFailedReports(QueryClient& client, int64_t since_ns,
                                                 const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::FailedPreconditionError("cannot create " + dir + ": " + ec.message());
  FailedReports result;
  std::string rows;
  v1::ListTracesRequest request;
  request.set_outcome(v1::OUTCOME_FAILED);
  request.set_since_ns(since_ns);
  request.set_limit(1000);
  do {
    auto page = client.List(request);
    if (!page.ok()) return page.status();
    for (const v1::TraceSummary& s : page->traces()) {
      auto rendered = client.Render(s.trace_id(), "html");
      if (!rendered.ok()) return rendered.status();
      const std::string file = FileNameFor(s.trace_id());
      if (!WriteFile(dir + "/" + file, rendered->body())) {
        return absl::FailedPreconditionError("cannot write " + dir + "/" + file);
      }
      if (result.first_report.empty()) result.first_report = dir + "/" + file;
      ++result.written;
      rows += "<tr><td>" + HtmlEscape(FormatRfc3339(absl::FromUnixNanos(s.started_at_ns()))) +
              "</td><td><a href=\"" + HtmlEscape(file) + "\">" + HtmlEscape(s.trace_id()) +
              "</a></td><td>" + HtmlEscape(s.ended_at_actor()) + "</td><td>" +
              HtmlEscape(s.headline()) + "</td></tr>\n";
    }
    request.set_cursor(page->next_cursor());
  } while (!request.cursor().empty());
  const std::string index =
      "<!doctype html><html lang=en><head><meta charset=utf-8><title>meshtrace: failed "
      "traces</title><style>body{font:14px system-ui,sans-serif;margin:24px}td{padding:2px 14px "
      "2px 0}th{text-align:left;color:#57606a}</style></head><body><h1>" +
      std::to_string(result.written) + " failed trace" + (result.written == 1 ? "" : "s") +
      "</h1><table><tr><th>started</th><th>trace</th><th>failed at</th><th>what "
      "happened</th></tr>\n" +
      rows + "</table></body></html>\n";
  result.index = dir + "/index.html";
  if (!WriteFile(result.index, index)) {
    return absl::FailedPreconditionError("cannot write " + result.index);
  }
  return result;
}

}  // namespace meshtrace::replayer
