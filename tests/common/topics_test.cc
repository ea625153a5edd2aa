#include "common/topics.h"

#include <gtest/gtest.h>

namespace meshtrace {
namespace {

TEST(TopicsTest, NamesQueuesLikeAsya) {
  EXPECT_EQ(QueueTopic("prod", "enrich"), "asya-prod-enrich");
  EXPECT_EQ(QueueTopic("", "enrich"), "asya-enrich");
  EXPECT_EQ(QueueTopic("prod", "x-sink"), "asya-prod-x-sink");
}

TEST(TopicsTest, ActorOfTopicInvertsQueueTopic) {
  EXPECT_EQ(ActorOfTopic("prod", "asya-prod-x-sump"), "x-sump");
  EXPECT_EQ(ActorOfTopic("", "asya-enrich"), "enrich");
  EXPECT_EQ(ActorOfTopic("prod", "asya-dev-enrich"), "");
  EXPECT_EQ(ActorOfTopic("prod", "asya-prod-"), "");
}

TEST(TopicsTest, ValidatesTopicParts) {
  EXPECT_TRUE(ValidateTopicPart("actor name", "setup-payment_2.v1").ok());
  absl::Status bad = ValidateTopicPart("actor name", "a/b");
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("actor name 'a/b' has the character '/'"), std::string::npos) << bad;
  EXPECT_FALSE(ValidateTopicPart("namespace", "").ok());
  EXPECT_FALSE(ValidateTopicPart("namespace", std::string(201, 'a')).ok());
}

}  // namespace
}  // namespace meshtrace
