#pragma once

#include <memory>
#include <string>

#include "collector/ingest.h"
#include "collector/metrics.h"
#include "collector/query.h"

namespace grpc {
class Service;
}

namespace meshtrace::collector {

// Collector.Ingest: each batch is validated (bad events are rejected with a reason, counted
// and named in the ack; they must not be resent), handed to the pipeline, and acked once
// durable. A stream reads ahead while acks are pending; the pipeline's back-pressure stops
// the reads and so slows the sender. With `token` set, calls without "authorization: Bearer
// <token>" fail UNAUTHENTICATED.
std::unique_ptr<grpc::Service> NewIngestService(IngestPipeline* pipeline, CollectorMetrics* metrics,
                                                std::string token, size_t max_event_bytes);

// Query: the QueryEngine over gRPC, same token rule.
std::unique_ptr<grpc::Service> NewQueryService(const QueryEngine* engine, std::string token);

}  // namespace meshtrace::collector
