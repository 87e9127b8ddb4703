// GpuSession and hix-model-run's core on the cpu backend: a tiny model
// generates the same tokens (and logits, bit for bit) in protected and plain
// mode, and a tampered sealed weight chunk fails the load with AUTH_FAILED
// while the session keeps working.
#include <gtest/gtest.h>

#include "model_runner.hpp"

namespace hix::gpu_tools {
namespace {

constexpr std::uint64_t kSeed = 7;
const std::vector<std::int32_t> kPrompt = {1, 5, 9, 2};
constexpr std::uint32_t kGenerate = 6;

RunOptions options(const ModelSource& src, Mode mode) {
  RunOptions o;
  o.backend = BackendKind::cpu;
  o.mode = mode;
  o.source = &src;
  o.runtime.max_seq = 32;
  o.prompt = kPrompt;
  o.generate = kGenerate;
  return o;
}

TEST(GpuSession, ProtectedAndPlainGenerateTheSameTokens) {
  auto src = open_preset("tiny-llama", kSeed);
  ASSERT_TRUE(src.ok()) << src.why();
  auto prot = run_model(options(*src, Mode::protected_mode));
  ASSERT_TRUE(prot.ok()) << prot.why();
  auto plain = run_model(options(*src, Mode::plain));
  ASSERT_TRUE(plain.ok()) << plain.why();

  ASSERT_EQ(prot->tokens.size(), kPrompt.size() + kGenerate);
  EXPECT_TRUE(std::equal(kPrompt.begin(), kPrompt.end(), prot->tokens.begin()));
  EXPECT_EQ(prot->tokens, plain->tokens);
  ASSERT_EQ(prot->last_logits.size(), src->config.vocab);
  EXPECT_EQ(prot->last_logits, plain->last_logits);  // same backend, same programs
  // Greedy: the last token is the argmax of the last logits.
  const auto best = std::max_element(prot->last_logits.begin(), prot->last_logits.end());
  EXPECT_EQ(prot->tokens.back(), best - prot->last_logits.begin());

  const std::string json = run_json(*prot);
  EXPECT_NE(json.find("\"mode\": \"protected\""), std::string::npos);
  EXPECT_NE(json.find("\"backend\": \"cpu\""), std::string::npos);
}

TEST(GpuSession, TamperedWeightChunkFailsTheLoadAndTheSessionRecovers) {
  auto src = open_preset("tiny-llama", kSeed);
  ASSERT_TRUE(src.ok()) << src.why();
  auto reference = run_model(options(*src, Mode::protected_mode));
  ASSERT_TRUE(reference.ok()) << reference.why();

  auto plan = model::make_plan(src->config, options(*src, Mode::protected_mode).runtime);
  ASSERT_TRUE(plan.ok()) << plan.why();
  SessionConfig sc;
  sc.mode = Mode::protected_mode;
  sc.vram_bytes = vram_for(*plan);
  sc.guest_ram_bytes = guest_ram_for(*plan, true);
  auto session = GpuSession::create(sc);
  ASSERT_TRUE(session.ok()) << vgpu::to_string(session.status());
  auto runner = ModelRunner::prepare(**session, std::move(*plan), *src->weights);
  ASSERT_TRUE(runner.ok()) << runner.why();
  ModelRunner& r = **runner;

  // One ciphertext byte of a tensor in the middle of the load order.
  const StagedTensor& victim = r.staged_weights()[r.staged_weights().size() / 2];
  std::byte& b = (*session)->guest(victim.gpa + vgpu::kChunkHeaderBytes + 3, 1)[0];
  const std::uint32_t failures = (*session)->auth_failures();
  b ^= std::byte{0x01};
  EXPECT_EQ(r.load(), Status::auth_failed);
  EXPECT_EQ((*session)->auth_failures(), failures + 1);

  b ^= std::byte{0x01};
  ASSERT_EQ(r.load(), Status::ok);
  auto g = r.generate(kPrompt, kGenerate, true);
  ASSERT_TRUE(g.ok()) << g.why();
  EXPECT_EQ(g->tokens, reference->tokens);
  EXPECT_EQ(g->last_logits, reference->last_logits);
}

TEST(GpuSession, PlainDmaIsRefusedInProtectedMode) {
  SessionConfig sc;
  sc.mode = Mode::protected_mode;
  auto s = GpuSession::create(sc);
  ASSERT_TRUE(s.ok());
  auto h = (*s)->alloc(64);
  ASSERT_TRUE(h.ok());
  auto gpa = (*s)->guest_alloc(64);
  ASSERT_TRUE(gpa.ok());
  vgpu::CmdbufBuilder b;
  b.dma(HIX_VGPU_OP_DMA_IN, vgpu::tref(*h, HIX_VGPU_DT_F32), {.gpa = *gpa, .bytes = 64});
  EXPECT_EQ((*s)->submit(b), Status::denied_protected);
  // The ring still takes the next authenticated entry.
  vgpu::CmdbufBuilder ok;
  ok.fill(vgpu::tref(*h, HIX_VGPU_DT_F32), 16, 0);
  EXPECT_EQ((*s)->submit(ok), Status::ok);
}

TEST(GpuSession, ParsesLists) {
  std::vector<std::int64_t> v;
  EXPECT_TRUE(parse_list("1,2,30", v));
  EXPECT_EQ(v, (std::vector<std::int64_t>{1, 2, 30}));
  EXPECT_FALSE(parse_list("", v));
  EXPECT_FALSE(parse_list("1,", v));
  EXPECT_FALSE(parse_list("1;2", v));
  EXPECT_FALSE(parse_list("a", v));
}

}  // namespace
}  // namespace hix::gpu_tools
