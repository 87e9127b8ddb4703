// Peer disks (spec hix-gpu §7.4): DMA_IN_PEER and DMA_IN_DECRYPT_PEER read a
// file the device server opened, never guest memory, and treat it as the
// untrusted storage it is.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>

#include "fake_bus.hpp"
#include "peer_disk.hpp"
#include "sealed_chunk.hpp"

namespace hix::vgpu::test {
namespace {

std::vector<std::byte> pattern(std::size_t n, std::uint8_t seed) {
  std::vector<std::byte> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::byte>((i * 131 + seed) & 0xFF);
  return v;
}

// A temporary file, removed with the object.
class TempFile {
 public:
  TempFile() {
    char name[] = "/tmp/hix-peer-disk-XXXXXX";
    const int fd = ::mkstemp(name);
    EXPECT_GE(fd, 0);
    ::close(fd);
    path_ = name;
  }
  ~TempFile() { std::remove(path_.c_str()); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  const std::string& path() const { return path_; }
  void write_at(std::uint64_t offset, std::span<const std::byte> bytes) const {
    std::fstream f(path_, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(offset));
    // reinterpret_cast: bytes handed to the stream as its char type.
    f.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  }

 private:
  std::string path_;
};

class PeerDisk : public ::testing::Test {
 protected:
  static constexpr std::uint64_t kBytes = 65536 + 4096;  // two chunks
  static constexpr std::uint64_t kSealedAt = 4096;
  static constexpr std::uint64_t kPlainAt = std::uint64_t{4096} * 40;

  PeerDisk() : bus(1 << 20, config()) {}
  DeviceConfig config() {
    sealed_plain = pattern(kBytes, 3);
    sealed.resize(sealed_size(kBytes));
    EXPECT_EQ(seal_tensor(sealed, sealed_plain, SealParams{3, 1}, key), Status::ok);
    disk_file.write_at(kSealedAt, sealed);
    plain = pattern(kBytes, 9);
    disk_file.write_at(kPlainAt, plain);
    auto disks = std::make_shared<PeerDisks>();
    EXPECT_TRUE(disks->add(disk_file.path()));
    DeviceConfig c;
    c.peer_disks = disks;
    return c;
  }
  void SetUp() override {
    bus.start_ring();
    ctx = bus.create_context();
    buf = bus.alloc(ctx, kBytes);
    bus.install_slot(ctx, 3, key);
  }
  std::vector<std::byte> vram_of_buf() {  // buf is the only buffer: VRAM offset 0
    std::vector<std::byte> v(kBytes);
    EXPECT_EQ(bus.dev->backend().read_bytes(VramOffset{0}, v), Status::ok);
    return v;
  }
  Status decrypt_from(PeerRange range, std::uint64_t tensor_id = 1, std::uint32_t slot = 3) {
    CmdbufBuilder b;
    b.dma_peer(HIX_VGPU_OP_DMA_IN_DECRYPT_PEER, tref(buf, HIX_VGPU_DT_F32), range,
               {.tensor_id = tensor_id, .key_slot = slot});
    return bus.submit(ctx, b);
  }

  Key key = make_key(7);
  TempFile disk_file;
  std::vector<std::byte> sealed_plain, sealed, plain;
  FakeBus bus;
  std::uint32_t ctx = 0, buf = 0;
};

TEST_F(PeerDisk, ASealedTensorOnThePeerDiskOpensIntoVram) {
  ASSERT_EQ(decrypt_from({.disk = 0, .offset = kSealedAt, .bytes = kBytes}), Status::ok);
  EXPECT_EQ(vram_of_buf(), sealed_plain);
  EXPECT_EQ(bus.reg(Reg32::dma_denied), 0u);
}

TEST_F(PeerDisk, AChangedChunkOnTheDiskFailsAndLeavesTheDestinationZeroed) {
  CmdbufBuilder fill;
  fill.fill(tref(buf, HIX_VGPU_DT_I32), kBytes / 4, 0xA5A5A5A5u);
  ASSERT_EQ(bus.submit(ctx, fill), Status::ok);
  std::vector<std::byte> flipped{sealed[sealed.size() - 1] ^ std::byte{0x80}};
  disk_file.write_at(kSealedAt + sealed.size() - 1, flipped);  // the last tag's last byte
  EXPECT_EQ(decrypt_from({.disk = 0, .offset = kSealedAt, .bytes = kBytes}), Status::auth_failed);
  EXPECT_EQ(vram_of_buf(), std::vector<std::byte>(kBytes)) << "the destination reads as zeros";
  EXPECT_EQ(bus.reg(Reg32::auth_failures), 1u);
}

TEST_F(PeerDisk, ATensorReadFromTheWrongPlaceIdOrSlotFails) {
  // Shifted by a page: the bytes there are not a sealed tensor.
  EXPECT_EQ(decrypt_from({.disk = 0, .offset = kSealedAt + 4096, .bytes = kBytes}),
            Status::auth_failed);
  EXPECT_EQ(decrypt_from({.disk = 0, .offset = kSealedAt, .bytes = kBytes}, 2),
            Status::auth_failed);
  bus.install_slot(ctx, 4, key);  // same key, other slot: the header binds the slot
  EXPECT_EQ(decrypt_from({.disk = 0, .offset = kSealedAt, .bytes = kBytes}, 1, 4),
            Status::auth_failed);
  EXPECT_EQ(decrypt_from({.disk = 0, .offset = kSealedAt, .bytes = kBytes}, 1, 5),
            Status::bad_key_slot);
  EXPECT_EQ(decrypt_from({.disk = 0, .offset = kSealedAt, .bytes = kBytes}, kDeviceTensorBit | 1),
            Status::invalid_arg);
  EXPECT_EQ(bus.reg(Reg32::auth_failures), 3u);
}

TEST_F(PeerDisk, AMissingDiskOrARangePastTheEndIsDeniedAndCounted) {
  std::fstream f(disk_file.path(), std::ios::in | std::ios::binary | std::ios::ate);
  const auto size = static_cast<std::uint64_t>(f.tellg());
  EXPECT_EQ(decrypt_from({.disk = 1, .offset = kSealedAt, .bytes = kBytes}), Status::dma_denied);
  EXPECT_EQ(decrypt_from({.disk = 0, .offset = size - 100, .bytes = kBytes}), Status::dma_denied);
  EXPECT_EQ(decrypt_from({.disk = 0, .offset = ~std::uint64_t{0} - 10, .bytes = kBytes}),
            Status::dma_denied);
  CmdbufBuilder b;
  b.dma_peer(HIX_VGPU_OP_DMA_IN_PEER, tref(buf, HIX_VGPU_DT_F32),
             {.disk = 0, .offset = size - 8, .bytes = 16}, {});
  EXPECT_EQ(bus.submit(ctx, b), Status::dma_denied);
  EXPECT_EQ(bus.reg(Reg32::dma_denied), 4u);
  // The device keeps serving: the same context loads the real tensor.
  EXPECT_EQ(decrypt_from({.disk = 0, .offset = kSealedAt, .bytes = kBytes}), Status::ok);
}

TEST_F(PeerDisk, PlainDmaInPeerCopiesTheBytesInPlainModeOnly) {
  CmdbufBuilder b;
  b.dma_peer(HIX_VGPU_OP_DMA_IN_PEER, tref(buf, HIX_VGPU_DT_F32),
             {.disk = 0, .offset = kPlainAt, .bytes = kBytes}, {});
  ASSERT_EQ(bus.submit(ctx, b), Status::ok);
  EXPECT_EQ(vram_of_buf(), plain);
}

TEST(PeerDiskProtected, PlainDmaInPeerIsRefusedInProtectedMode) {
  TempFile file;
  file.write_at(0, pattern(4096, 1));
  auto disks = std::make_shared<PeerDisks>();
  ASSERT_TRUE(disks->add(file.path()));
  DeviceConfig c;
  c.peer_disks = disks;
  FakeBus bus(1 << 20, c);
  bus.install_channel_key(make_key(4));
  bus.start_ring();
  const auto ctx = bus.create_context();
  const auto buf = bus.alloc(ctx, 4096);
  CmdbufBuilder b;
  b.dma_peer(HIX_VGPU_OP_DMA_IN_PEER, tref(buf, HIX_VGPU_DT_F32),
             {.disk = 0, .offset = 0, .bytes = 4096}, {});
  EXPECT_EQ(bus.submit(ctx, b), Status::denied_protected);
  // Control: the same op on a plain device works (the fixture above).
}

TEST(PeerDisks, OnlyRegularFilesAndBlockDevicesOpen) {
  PeerDisks d;
  EXPECT_FALSE(d.add("/nonexistent/hix-peer-disk"));
  EXPECT_FALSE(d.add("/tmp")) << "a directory is not a disk";
  TempFile file;
  file.write_at(0, pattern(100, 1));
  ASSERT_TRUE(d.add(file.path()));
  EXPECT_EQ(d.count(), 1u);
  EXPECT_TRUE(d.holds(0, 0, 100));
  EXPECT_FALSE(d.holds(0, 1, 100));
  EXPECT_FALSE(d.holds(0, 101, 0));
  std::vector<std::byte> out(100);
  EXPECT_EQ(d.read(0, 0, out), Status::ok);
  EXPECT_EQ(out, pattern(100, 1));
}

TEST(PeerDisks, LargeReadsInParallelReturnEveryByte) {
  TempFile file;
  const auto bytes = pattern((std::size_t{64} << 20) + 12345, 5);
  file.write_at(0, bytes);
  PeerDisks d;
  ASSERT_TRUE(d.add(file.path()));
  std::vector<std::byte> out(bytes.size() - 7);
  ASSERT_EQ(d.read(0, 7, out), Status::ok);
  EXPECT_TRUE(std::equal(out.begin(), out.end(), bytes.begin() + 7));
}

}  // namespace
}  // namespace hix::vgpu::test
