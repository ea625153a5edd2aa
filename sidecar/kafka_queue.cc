#include "sidecar/kafka_queue.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafkacpp.h>

#include <algorithm>
#include <deque>
#include <list>
#include <map>
#include <thread>
#include <unordered_map>

#include "absl/strings/numbers.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/log.h"

namespace meshtrace::sidecar {
namespace {

// One consumed message's bookkeeping.
struct Pending {
  int64_t offset = 0;
  int outstanding = 0;  // sends not yet acknowledged
  bool finished = false;
};

using PartitionKey = std::pair<std::string, int32_t>;

// Destination topics whose producer handles are kept (a mesh has a few); sends to more go by
// name.
constexpr size_t kMaxTopicHandles = 1024;

// Keeps a bounded prefetch queue from stalling. librdkafka 2.0 stops fetching once the
// consumer's queue holds queued.max.messages.kbytes (or queued.min.messages) and decides again
// only when the broker thread next wakes: on I/O, on an op, or after its fixed 1 s idle wait.
// Draining the queue wakes nothing, so a bounded queue runs dry and the consumer idles for up
// to a second each time (librdkafka 2.1 added fetch.queue.backoff.ms for this). When the queue
// falls to a quarter of its bound after being at least half full, the nudger sends one cheap
// request (ListOffsets) to each leader broker of the assignment from its own thread, which
// wakes the broker threads: they fetch again while a quarter of the queue is still left.
class FetchNudger {
 public:
  FetchNudger(RdKafka::KafkaConsumer* consumer, int64_t max_bytes, int64_t max_messages)
      : consumer_(consumer),
        queue_(rd_kafka_queue_get_consumer(consumer->c_ptr())),
        max_bytes_(max_bytes),
        max_messages_(max_messages),
        thread_([this] { Run(); }) {}

  ~FetchNudger() {
    {
      absl::MutexLock lock(&mu_);
      stop_ = true;
    }
    thread_.join();
    rd_kafka_queue_destroy(queue_);
  }

  // After each consumed message, with its value's size (what librdkafka's byte bound counts).
  void Observe(size_t value_bytes) {
    average_bytes_ += (static_cast<double>(value_bytes) - average_bytes_) / 16;
    const double capacity =
        std::min<double>(max_messages_, max_bytes_ / std::max(average_bytes_, 1.0));
    const double queued = static_cast<double>(rd_kafka_queue_length(queue_));
    if (queued * 2 >= capacity) {
      armed_ = true;
    } else if (armed_ && queued * 4 <= capacity) {
      armed_ = false;
      absl::MutexLock lock(&mu_);
      ++requested_;
    }
  }

 private:
  void Run() {
    uint64_t served = 0;
    while (true) {
      {
        absl::MutexLock lock(&mu_);
        auto wanted = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          return stop_ || requested_ != served;
        };
        mu_.Await(absl::Condition(&wanted));
        if (stop_) return;
        served = requested_;
      }
      std::vector<RdKafka::TopicPartition*> parts;
      if (consumer_->assignment(parts) == RdKafka::ERR_NO_ERROR && !parts.empty()) {
        for (auto* part : parts) part->set_offset(-1);  // the latest offset: any reply will do
        consumer_->offsetsForTimes(parts, 1000);
      }
      RdKafka::TopicPartition::destroy(parts);
    }
  }

  RdKafka::KafkaConsumer* consumer_;
  rd_kafka_queue_t* queue_;
  const int64_t max_bytes_;
  const int64_t max_messages_;
  double average_bytes_ = 1024;
  bool armed_ = false;  // the queue was at least half full since the last nudge
  absl::Mutex mu_;
  uint64_t requested_ ABSL_GUARDED_BY(mu_) = 0;  // nudges asked for
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace

struct KafkaQueue::State : public RdKafka::DeliveryReportCb, public RdKafka::RebalanceCb {
  std::unique_ptr<RdKafka::KafkaConsumer> consumer;
  std::unique_ptr<FetchNudger> nudger;  // uses consumer: declared after it, destroyed before it
  std::unique_ptr<RdKafka::Producer> producer;
  std::unordered_map<std::string, std::unique_ptr<RdKafka::Topic>> topics;  // after producer
  // deque keeps element addresses stable under push_back/pop_front: tickets point into it.
  std::map<PartitionKey, std::deque<Pending>> partitions;
  // Partitions revoked while some of their messages were still being processed (calls in
  // flight hold tickets into these deques; a moved deque keeps its elements where they are).
  // Never committed: the partition's next owner redelivers those messages. Dropped once all
  // their messages are finished and acknowledged.
  std::list<std::deque<Pending>> retired;
  int64_t outstanding = 0;
  bool closed = false;
  absl::Status delivery_error;
  absl::Time last_commit = absl::InfinitePast();

  void dr_cb(RdKafka::Message& message) override {
    auto* pending = static_cast<Pending*>(message.msg_opaque());
    --outstanding;
    if (message.err() != RdKafka::ERR_NO_ERROR) {
      delivery_error = absl::UnavailableError("delivery to " + message.topic_name() +
                                              " failed: " + message.errstr());
      Log(LogLevel::kError, "kafka: " + std::string(delivery_error.message()));
      return;  // the message stays outstanding: its offset is never committed
    }
    if (pending != nullptr) --pending->outstanding;
  }

  void rebalance_cb(RdKafka::KafkaConsumer* consumer, RdKafka::ErrorCode err,
                    std::vector<RdKafka::TopicPartition*>& parts) override {
    if (err == RdKafka::ERR__ASSIGN_PARTITIONS) {
      consumer->assign(parts);
      return;
    }
    // Revoked: settle what was processed before giving the partitions away.
    absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (outstanding > 0 && absl::Now() < deadline) producer->poll(50);
    Commit(/*sync=*/true);
    for (auto* tp : parts) {
      auto it = partitions.find({tp->topic(), tp->partition()});
      if (it == partitions.end()) continue;
      if (!it->second.empty()) retired.push_back(std::move(it->second));
      partitions.erase(it);
    }
    consumer->unassign();
  }

  // The producer's handle for `name`, nullptr past kMaxTopicHandles. The first send to a topic
  // fetches its metadata (one round trip, at most 1 s): librdkafka 2.0 otherwise learns a new
  // topic's partitions on its 1 s topic scan and holds every send to it until then.
  RdKafka::Topic* TopicFor(const std::string& name) {
    auto it = topics.find(name);
    if (it != topics.end()) return it->second.get();
    if (topics.size() >= kMaxTopicHandles) return nullptr;
    std::string err;
    std::unique_ptr<RdKafka::Topic> topic(
        RdKafka::Topic::create(producer.get(), name, nullptr, err));
    if (!topic) return nullptr;
    RdKafka::Metadata* metadata = nullptr;
    if (producer->metadata(false, topic.get(), &metadata, 1000) == RdKafka::ERR_NO_ERROR) {
      delete metadata;  // a failure is left to librdkafka's own retries
    }
    return topics.emplace(name, std::move(topic)).first->second.get();
  }

  void Commit(bool sync) {
    std::vector<RdKafka::TopicPartition*> offsets;
    for (auto& [key, queue] : partitions) {
      int64_t done = -1;
      while (!queue.empty() && queue.front().finished && queue.front().outstanding == 0) {
        done = queue.front().offset;
        queue.pop_front();
      }
      if (done >= 0)
        offsets.push_back(RdKafka::TopicPartition::create(key.first, key.second, done + 1));
    }
    if (!offsets.empty()) {
      RdKafka::ErrorCode err =
          sync ? consumer->commitSync(offsets) : consumer->commitAsync(offsets);
      if (err != RdKafka::ERR_NO_ERROR) {
        Log(LogLevel::kWarn, "kafka: commit failed (" + RdKafka::err2str(err) +
                                 "); the messages will be redelivered");
      }
    }
    RdKafka::TopicPartition::destroy(offsets);
    retired.remove_if([](const std::deque<Pending>& queue) {
      return std::all_of(queue.begin(), queue.end(),
                         [](const Pending& p) { return p.finished && p.outstanding == 0; });
    });
    last_commit = absl::Now();
  }
};

absl::StatusOr<std::unique_ptr<KafkaQueue>> KafkaQueue::Open(const Options& options) {
  std::unique_ptr<KafkaQueue> queue(new KafkaQueue());
  queue->state_ = std::make_unique<State>();
  State& state = *queue->state_;
  std::string err;

  auto configure =
      [&](RdKafka::Conf* conf,
          const std::vector<std::pair<std::string, std::string>>& fixed) -> absl::Status {
    std::vector<std::pair<std::string, std::string>> all = fixed;
    all.insert(all.end(), options.properties.begin(), options.properties.end());
    for (const auto& [key, value] : all) {
      if (conf->set(key, value, err) != RdKafka::Conf::CONF_OK) {
        return absl::InvalidArgumentError("Kafka property " + key + "=" + value + ": " + err);
      }
    }
    return absl::OkStatus();
  };

  std::unique_ptr<RdKafka::Conf> pconf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  if (auto s = configure(pconf.get(), {{"bootstrap.servers", options.brokers},
                                       {"enable.idempotence", "true"},
                                       {"message.timeout.ms", "0"},
                                       // Batches sends: fewer broker-thread wake-ups per
                                       // envelope, for at most 5 ms more per hop.
                                       {"linger.ms", "5"},
                                       {"log_level", "4"}});
      !s.ok()) {
    return s;
  }
  pconf->set("dr_cb", static_cast<RdKafka::DeliveryReportCb*>(&state), err);
  state.producer.reset(RdKafka::Producer::create(pconf.get(), err));
  if (!state.producer) return absl::InvalidArgumentError("Kafka producer: " + err);

  std::unique_ptr<RdKafka::Conf> cconf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  if (auto s = configure(cconf.get(), {{"bootstrap.servers", options.brokers},
                                       {"group.id", options.group},
                                       {"enable.auto.commit", "false"},
                                       {"enable.auto.offset.store", "false"},
                                       {"auto.offset.reset", "earliest"},
                                       {"allow.auto.create.topics", "true"},
                                       {"fetch.wait.max.ms", "20"},
                                       // Prefetch at most 4 MiB of messages, not librdkafka's
                                       // 64 MiB (and fetch.max.bytes follows it down): the
                                       // nudger keeps the queue from running dry.
                                       {"queued.max.messages.kbytes", "4096"},
                                       {"log_level", "4"}});
      !s.ok()) {
    return s;
  }
  cconf->set("rebalance_cb", static_cast<RdKafka::RebalanceCb*>(&state), err);
  state.consumer.reset(RdKafka::KafkaConsumer::create(cconf.get(), err));
  if (!state.consumer) return absl::InvalidArgumentError("Kafka consumer: " + err);
  // The bounds as librdkafka took them (validated integers); its defaults if unreadable.
  int64_t max_kbytes = 65536, max_messages = 100000;
  std::string value;
  if (cconf->get("queued.max.messages.kbytes", value) == RdKafka::Conf::CONF_OK) {
    (void)absl::SimpleAtoi(value, &max_kbytes);
  }
  if (cconf->get("queued.min.messages", value) == RdKafka::Conf::CONF_OK) {
    (void)absl::SimpleAtoi(value, &max_messages);
  }
  state.nudger =
      std::make_unique<FetchNudger>(state.consumer.get(), max_kbytes * 1024, max_messages);
  RdKafka::ErrorCode code = state.consumer->subscribe({options.topic});
  if (code != RdKafka::ERR_NO_ERROR) {
    return absl::InvalidArgumentError("cannot subscribe to " + options.topic + ": " +
                                      RdKafka::err2str(code));
  }
  return queue;
}

KafkaQueue::~KafkaQueue() {
  if (state_) Close();
}

absl::StatusOr<std::optional<KafkaQueue::Message>> KafkaQueue::Poll(absl::Duration timeout) {
  std::unique_ptr<RdKafka::Message> m(
      state_->consumer->consume(static_cast<int>(absl::ToInt64Milliseconds(timeout))));
  state_->producer->poll(0);
  switch (m->err()) {
    case RdKafka::ERR_NO_ERROR:
      break;
    case RdKafka::ERR__TIMED_OUT:
    case RdKafka::ERR__PARTITION_EOF:
      return std::optional<Message>();
    case RdKafka::ERR_UNKNOWN_TOPIC_OR_PART:
    case RdKafka::ERR__TRANSPORT:
    case RdKafka::ERR__ALL_BROKERS_DOWN:
      Log(LogLevel::kWarn, "kafka: " + m->errstr() + " (retrying)");
      return std::optional<Message>();
    default:
      if (m->err() == RdKafka::ERR__FATAL) return absl::InternalError("kafka: " + m->errstr());
      Log(LogLevel::kWarn, "kafka: consume: " + m->errstr());
      return std::optional<Message>();
  }
  Message message;
  message.topic = m->topic_name();
  message.partition = m->partition();
  message.offset = m->offset();
  RdKafka::MessageTimestamp ts = m->timestamp();
  if (ts.type != RdKafka::MessageTimestamp::MSG_TIMESTAMP_NOT_AVAILABLE) {
    message.timestamp_ms = ts.timestamp;
  }
  if (m->key() != nullptr) message.key = *m->key();
  message.value.assign(static_cast<const char*>(m->payload()), m->len());
  state_->nudger->Observe(m->len());
  auto& queue = state_->partitions[{message.topic, message.partition}];
  queue.push_back(Pending{message.offset, 0, false});
  message.ticket = &queue.back();
  return std::optional<Message>(std::move(message));
}

absl::Status KafkaQueue::Send(void* ticket, const std::string& topic, const std::string& key,
                              const std::string& value) {
  auto* pending = static_cast<Pending*>(ticket);
  RdKafka::Topic* handle = state_->TopicFor(topic);
  void* payload = const_cast<char*>(value.data());
  const char* key_data = key.empty() ? nullptr : key.data();
  while (true) {
    RdKafka::ErrorCode err =
        handle != nullptr ? state_->producer->produce(handle, RdKafka::Topic::PARTITION_UA,
                                                      RdKafka::Producer::RK_MSG_COPY, payload,
                                                      value.size(), key_data, key.size(), pending)
                          : state_->producer->produce(
                                topic, RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY,
                                payload, value.size(), key_data, key.size(), 0, pending);
    if (err == RdKafka::ERR_NO_ERROR) break;
    if (err != RdKafka::ERR__QUEUE_FULL) {
      return absl::InternalError("cannot send to " + topic + ": " + RdKafka::err2str(err));
    }
    state_->producer->poll(100);  // back-pressure: wait for the broker to drain the queue
  }
  if (pending != nullptr) ++pending->outstanding;
  ++state_->outstanding;
  return absl::OkStatus();
}

void KafkaQueue::Finish(void* ticket) { static_cast<Pending*>(ticket)->finished = true; }

void KafkaQueue::Service(bool force) {
  state_->producer->poll(0);
  if (force || absl::Now() - state_->last_commit >= absl::Milliseconds(100)) {
    state_->Commit(/*sync=*/false);
  }
}

absl::Status KafkaQueue::Drain(absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (state_->outstanding > 0 && absl::Now() < deadline) state_->producer->poll(50);
  state_->Commit(/*sync=*/true);
  if (state_->outstanding > 0) {
    return absl::DeadlineExceededError(std::to_string(state_->outstanding) +
                                       " sends still unacknowledged; their messages were not "
                                       "committed and will be redelivered");
  }
  return state_->delivery_error;
}

void KafkaQueue::Close() {
  if (state_->closed || !state_->consumer) return;
  state_->closed = true;
  state_->nudger.reset();
  state_->consumer->close();
}

absl::Status KafkaQueue::delivery_error() const { return state_->delivery_error; }

int64_t KafkaQueue::outstanding() const { return state_->outstanding; }

}  // namespace meshtrace::sidecar
