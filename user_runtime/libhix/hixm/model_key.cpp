// Model keys and key files (docs/specs/hixm.md §3, §7).
#include "model_key.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "hex.hpp"

namespace hix::hixm {

namespace {

using model::fail;
using model::Unit;

constexpr char kManifestKdfContext[crypto_kdf_CONTEXTBYTES + 1] = "HIXMmanf";
constexpr std::uint64_t kManifestKdfSubkey = 1;
constexpr mode_t kKeyFileMode = 0600;
constexpr mode_t kGroupOtherBits = 0077;
static_assert(kKeyBytes == crypto_kdf_KEYBYTES);

std::string mode_text(mode_t m) {
  char b[8];
  std::snprintf(b, sizeof b, "%04o", static_cast<unsigned>(m & 07777));
  return b;
}

// Writes all of `text` to a new file at `path` (O_EXCL, 0600) and fsyncs it.
Check create_key_file(const std::string& path, std::string_view text) {
  const int fd =
      ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, kKeyFileMode);
  if (fd < 0) {
    if (errno == EEXIST) {
      return fail(path + ": already exists; refusing to overwrite a key file (ask to overwrite)");
    }
    return fail(path + ": cannot create: " + std::strerror(errno));
  }
  // umask can only clear bits of 0600; fchmod makes the mode exact anyway.
  bool ok = ::fchmod(fd, kKeyFileMode) == 0;
  std::size_t done = 0;
  while (ok && done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) done += static_cast<std::size_t>(n);
  }
  ok = ok && ::fsync(fd) == 0;
  const int err = errno;
  ok = (::close(fd) == 0) && ok;
  if (!ok) {
    ::unlink(path.c_str());
    return fail(path + ": cannot write the key file: " + std::strerror(err));
  }
  return Unit{};
}

std::string key_line(const ModelKey& key) {
  return std::string(kKeyFileTag) + " " + std::to_string(kKeyFileVersion) + " " +
         to_hex(key.model_id) + " " + to_hex(key.key) + "\n";
}

bool lower_hex(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

}  // namespace

ModelKey ModelKey::generate() {
  ModelKey k;
  if (sodium_init() < 0) return k;  // libsodium cannot fail to initialise on Linux
  randombytes_buf(k.model_id.data(), k.model_id.size());
  crypto_kdf_keygen(k.key.data());
  return k;
}

ModelKey::~ModelKey() {
  sodium_memzero(key.data(), key.size());
}

Key manifest_key(const ModelKey& key) {
  Key k{};
  crypto_kdf_derive_from_key(k.data(), k.size(), kManifestKdfSubkey, kManifestKdfContext,
                             key.key.data());
  return k;
}

Check write_key_file(const std::string& path, const ModelKey& key, bool overwrite) {
  std::string line = key_line(key);
  Check r = Unit{};
  if (!overwrite) {
    r = create_key_file(path, line);
  } else {
    // A fresh 0600 file beside it, renamed over it: never a moment where the
    // old file's mode applies to the new key.
    std::array<std::uint8_t, 8> tag{};
    randombytes_buf(tag.data(), tag.size());
    const std::string tmp = path + ".tmp-" + to_hex(tag);
    r = create_key_file(tmp, line);
    if (r && ::rename(tmp.c_str(), path.c_str()) != 0) {
      const int err = errno;
      ::unlink(tmp.c_str());
      r = fail(path + ": cannot replace the key file: " + std::strerror(err));
    }
  }
  sodium_memzero(line.data(), line.size());
  return r;
}

Result<ModelKey> read_key_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return fail(path + ": cannot open the key file: " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return fail(path + ": the key file is not a regular file");
  }
  if (st.st_uid != ::geteuid()) {
    ::close(fd);
    return fail(path + ": the key file belongs to another user (uid " + std::to_string(st.st_uid) +
                ")");
  }
  if ((st.st_mode & kGroupOtherBits) != 0) {
    ::close(fd);
    return fail(path + ": mode " + mode_text(st.st_mode) +
                " lets group or others reach the model key (chmod 600 " + path + ")");
  }
  std::array<char, kKeyFileMaxBytes + 1> buf{};
  std::size_t got = 0;
  while (got < buf.size()) {
    const ssize_t n = ::read(fd, buf.data() + got, buf.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  const std::string_view text(buf.data(), got);
  const auto wipe = [&buf] { sodium_memzero(buf.data(), buf.size()); };
  const std::string bad = path + ": not a hixm key file (\"hixm-key 1 <model id> <key>\")";
  if (got > kKeyFileMaxBytes) {
    wipe();
    return fail(path + ": longer than a key file");
  }
  // "hixm-key" SP "1" SP 64 hex SP 64 hex LF, exactly.
  const std::string prefix = std::string(kKeyFileTag) + " " + std::to_string(kKeyFileVersion) + " ";
  const std::size_t id_at = prefix.size(), key_at = id_at + 2 * kModelIdBytes + 1;
  const std::size_t total = key_at + 2 * kKeyBytes + 1;
  if (text.size() != total || !text.starts_with(prefix) || text[key_at - 1] != ' ' ||
      text[total - 1] != '\n' || !lower_hex(text.substr(id_at, 2 * kModelIdBytes)) ||
      !lower_hex(text.substr(key_at, 2 * kKeyBytes))) {
    wipe();
    if (text.starts_with(std::string(kKeyFileTag) + " ") && !text.starts_with(prefix)) {
      return fail(path + ": key file version is not " + std::to_string(kKeyFileVersion));
    }
    return fail(bad);
  }
  ModelKey k;
  auto id = from_hex(text.substr(id_at, 2 * kModelIdBytes));
  auto key = from_hex(text.substr(key_at, 2 * kKeyBytes));
  wipe();
  if (!id || !key || id->size() != kModelIdBytes || key->size() != kKeyBytes) {
    if (key) sodium_memzero(key->data(), key->size());
    return fail(bad);
  }
  std::copy(id->begin(), id->end(), k.model_id.begin());
  std::copy(key->begin(), key->end(), k.key.begin());
  sodium_memzero(key->data(), key->size());
  return k;
}

}  // namespace hix::hixm
