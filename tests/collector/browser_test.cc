// The HTML report and the web UI in real headless Chromium: the DOM after scripts ran is
// checked for what an engineer must see, and screenshots are left under the build dir
// (build/test-artifacts/) for a human look.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/stat.h>

#include <fstream>
#include <regex>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "collector/collector_app.h"
#include "meshtrace/v1/collector.grpc.pb.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/trace_builder.h"

namespace meshtrace::collector {
namespace {

using testing::TraceBuilder;
const std::string kArtifacts = std::string(MESHTRACE_BIN_DIR) + "/../test-artifacts";

// Runs headless Chromium on `url` with `flags`; returns its stdout (the DOM for --dump-dom).
std::string Chromium(const std::vector<std::string>& flags, const std::string& url,
                     const testing::TempDir& profile) {
  std::vector<std::string> argv = {"/usr/bin/chromium",
                                   "--headless",
                                   "--no-sandbox",
                                   "--disable-gpu",
                                   "--disable-background-networking",
                                   "--disable-component-update",
                                   "--disable-sync",
                                   "--no-first-run",
                                   "--user-data-dir=" + profile.path()};
  argv.insert(argv.end(), flags.begin(), flags.end());
  argv.push_back(url);
  auto run = testing::Run(argv, {}, absl::Seconds(60));
  EXPECT_TRUE(run.ok()) << run.status();
  return run.ok() ? run->out : "";
}

int Count(const std::string& text, const std::string& needle) {
  int n = 0;
  for (size_t pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1)) {
    ++n;
  }
  return n;
}

class BrowserTest : public ::testing::Test {
 protected:
  void SetUp() override {
    mkdir(kArtifacts.c_str(), 0755);
    CollectorConfig config;
    config.grpc_listen = "127.0.0.1:0";
    config.http_listen = "127.0.0.1:0";
    config.data_dir = data_.path();
    config.stall_timeout = absl::Seconds(1);  // for the stalled trace of one test
    app_ = std::make_unique<CollectorApp>(config);
    ASSERT_TRUE(app_->Start().ok());
    const int64_t now = absl::ToUnixNanos(absl::Now());

    TraceBuilder failed("bad-1", now);
    failed.SetPayload(R"({"order":17,"price":-3})");
    failed.Receive("e1", "parse").Result("e1", "parse", 200, "", "", 3'000'000);
    failed.Route("e1", "parse", "e1", "price");
    failed.Receive("e1", "price", {"parse"})
        .Result("e1", "price", 500, "ValueError", "price must be positive", 12'000'000);
    failed.Route("e1", "price", "e1", "x-sump", "sump", "failed", "RuntimeError");
    failed.Receive("e1", "x-sump", {"parse"}).Terminate("e1", "x-sump", "failed", "RuntimeError");

    TraceBuilder fan("fan-1", now + 1'000'000);
    fan.Receive("f1", "split").Result("f1", "split");
    fan.Route("f1", "split", "f1", "work")
        .Route("f1", "split", "f2", "work", "routing", "pending", "", "f1");
    for (const char* id : {"f1", "f2"}) {
      fan.Receive(id, "work", {"split"}).Result(id, "work");
      fan.Route(id, "work", id, "x-sink", "sink", "succeeded", "Completed");
      fan.Receive(id, "x-sink", {"split", "work"})
          .Terminate(id, "x-sink", "succeeded", "Completed");
    }
    std::vector<v1::LifecycleEvent> events = failed.Take();
    for (auto& e : fan.Take()) events.push_back(std::move(e));
    ASSERT_NO_FATAL_FAILURE(Ingest(events));
    base_ = absl::StrCat("http://127.0.0.1:", app_->http_port());
  }

  void Ingest(const std::vector<v1::LifecycleEvent>& events) {
    auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", app_->grpc_port()),
                                       grpc::InsecureChannelCredentials());
    auto stub = v1::Collector::NewStub(channel);
    grpc::ClientContext context;
    auto stream = stub->Ingest(&context);
    v1::EventBatch batch;
    for (const auto& e : events) *batch.add_events() = e;
    stream->Write(batch);
    stream->WritesDone();
    v1::Ack ack;
    ASSERT_TRUE(stream->Read(&ack));
    ASSERT_TRUE(stream->Finish().ok());
  }

  std::string SaveReport(const std::string& trace_id) {
    httplib::Client client("127.0.0.1", app_->http_port());
    auto res = client.Get(("/api/v1/traces/" + trace_id + "/report.html").c_str());
    EXPECT_TRUE(res && res->status == 200);
    const std::string path = kArtifacts + "/report-" + trace_id + ".html";
    std::ofstream(path) << (res ? res->body : "");
    return path;
  }

  testing::TempDir data_, profile_;
  std::unique_ptr<CollectorApp> app_;
  std::string base_;
};

TEST_F(BrowserTest, ReportOpensOfflineAndShowsVerdictHopsErrorAndReplay) {
  const std::string path = SaveReport("bad-1");
  app_->Stop();  // the file must stand alone
  const std::string dom = Chromium({"--dump-dom"}, "file://" + path, profile_);
  EXPECT_NE(dom.find("<h1 id=\"headline\">failed at actor price with ValueError: price must be "
                     "positive</h1>"),
            std::string::npos)
      << dom.substr(0, 2000);
  EXPECT_NE(dom.find(">complete</span>"), std::string::npos);
  EXPECT_NE(dom.find(">failed</span>"), std::string::npos);
  EXPECT_EQ(Count(dom, "<details class=\"hop"), 3);
  EXPECT_NE(dom.find("Traceback (most recent call last)"), std::string::npos);
  EXPECT_NE(dom.find("meshtrace replay bad-1 --envelope e1 --actor price"), std::string::npos);
  EXPECT_NE(dom.find("<svg"), std::string::npos);
  EXPECT_NE(dom.find("\"price\": -3"), std::string::npos);  // the input, pretty-printed
  EXPECT_EQ(dom.find("http://"), std::string::npos);        // nothing loads from the network
  EXPECT_EQ(dom.find("https://"), std::string::npos);

  const std::string png = kArtifacts + "/report-bad-1.png";
  std::remove(png.c_str());
  Chromium({"--window-size=1400,1600", "--screenshot=" + png}, "file://" + path, profile_);
  struct stat st;
  ASSERT_EQ(stat(png.c_str(), &st), 0) << "no screenshot at " << png;
  EXPECT_GT(st.st_size, 10'000);
}

TEST_F(BrowserTest, ReportShowsTheFanOutTree) {
  const std::string dom = Chromium({"--dump-dom"}, "file://" + SaveReport("fan-1"), profile_);
  EXPECT_NE(dom.find("succeeded in 5 hops"), std::string::npos);
  // split at the root, two work branches under it, each ending at x-sink.
  const size_t tree = dom.find("<div class=\"tree\">");
  ASSERT_NE(tree, std::string::npos);
  const std::string part = dom.substr(tree, dom.find("</div>", tree) - tree);
  EXPECT_EQ(Count(part, ">split<"), 1);
  EXPECT_EQ(Count(part, ">work<"), 2);
  EXPECT_EQ(Count(part, ">x-sink<"), 2);
}

TEST_F(BrowserTest, UiListsFiltersAndSearches) {
  const std::vector<std::string> wait = {"--dump-dom", "--virtual-time-budget=5000"};
  std::string dom = Chromium(wait, base_ + "/", profile_);
  EXPECT_EQ(Count(dom, "class=\"trace-row\""), 2) << dom.substr(0, 3000);
  EXPECT_NE(dom.find("/api/v1/traces/bad-1/report.html"), std::string::npos);
  EXPECT_NE(dom.find("2 traces"), std::string::npos);

  dom = Chromium(wait, base_ + "/?outcome=failed", profile_);
  EXPECT_EQ(Count(dom, "class=\"trace-row\""), 1);
  EXPECT_NE(dom.find("ValueError"), std::string::npos);
  EXPECT_EQ(dom.find("fan-1"), std::string::npos);

  dom = Chromium(wait, base_ + "/?actor=split", profile_);
  EXPECT_EQ(Count(dom, "class=\"trace-row\""), 1);
  EXPECT_NE(dom.find("fan-1"), std::string::npos);

  // Search by an envelope id shows its trace, linked to the report.
  dom = Chromium(wait, base_ + "/?search=f2", profile_);
  EXPECT_EQ(Count(dom, "class=\"trace-row\""), 1) << dom.substr(0, 3000);
  EXPECT_NE(dom.find("/api/v1/traces/fan-1/report.html"), std::string::npos);
  EXPECT_NE(dom.find("(envelope f2)"), std::string::npos);
  dom = Chromium(wait, base_ + "/?search=bad-1", profile_);
  EXPECT_NE(dom.find("failed at actor price"), std::string::npos);

  dom = Chromium(wait, base_ + "/?search=nothing-here", profile_);
  EXPECT_NE(dom.find("no trace or envelope nothing-here"), std::string::npos);

  const std::string png = kArtifacts + "/ui.png";
  Chromium({"--window-size=1400,900", "--virtual-time-budget=5000", "--screenshot=" + png},
           base_ + "/", profile_);
  struct stat st;
  EXPECT_EQ(stat(png.c_str(), &st), 0);
}

// A stalled trace's row says where it stopped, where a failed one shows its error.
TEST_F(BrowserTest, UiSaysWhereAStalledTraceStopped) {
  TraceBuilder lost("lost-1", absl::ToUnixNanos(absl::Now()));
  lost.Receive("l1", "parse").Result("l1", "parse").Route("l1", "parse", "l1", "price");
  ASSERT_NO_FATAL_FAILURE(Ingest(lost.Take()));
  httplib::Client api("127.0.0.1", app_->http_port());
  bool stalled = false;
  for (int i = 0; i < 100 && !stalled; ++i) {  // stalled 1 s after its send
    auto r = api.Get("/api/v1/traces?verdict=stalled");
    stalled = r && r->body.find("lost-1") != std::string::npos;
    if (!stalled) absl::SleepFor(absl::Milliseconds(100));
  }
  ASSERT_TRUE(stalled);
  const std::string dom =
      Chromium({"--dump-dom", "--virtual-time-budget=5000"}, base_ + "/?verdict=stalled", profile_);
  EXPECT_EQ(Count(dom, "class=\"trace-row\""), 1) << dom.substr(0, 3000);
  EXPECT_NE(dom.find("<span class=\"anomaly\">stalled: envelope l1 lost between parse and price"),
            std::string::npos)
      << dom.substr(0, 3000);

  // Its report leads with the same, and names the transit among the anomalies.
  const std::string path = SaveReport("lost-1");
  const std::string report = Chromium({"--dump-dom"}, "file://" + path, profile_);
  EXPECT_NE(report.find(">stalled</span>"), std::string::npos) << report.substr(0, 2000);
  EXPECT_NE(report.find("stalled: envelope l1 lost between parse and price"), std::string::npos)
      << report.substr(0, 2000);
  const size_t anomalies = report.find("<div id=\"anomalies\">");
  ASSERT_NE(anomalies, std::string::npos) << report.substr(0, 4000);
  EXPECT_NE(report.find("lost between parse and price", anomalies), std::string::npos);
  Chromium({"--window-size=1400,1000", "--screenshot=" + kArtifacts + "/report-stalled.png"},
           "file://" + path, profile_);
}

}  // namespace
}  // namespace meshtrace::collector
