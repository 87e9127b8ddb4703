// hix-keygen: make the platform attestation key (docs/specs/hix-isa.md §7).
//
//   hix-keygen KEYFILE
//
// Writes KEYFILE (the 64-byte libsodium Ed25519 secret key QEMU's
// hix-platform object loads, mode 0600) and KEYFILE.pub (the 32-byte public
// key verifiers trust). Refuses to overwrite an existing key: the key is the
// emulated CPU's identity.
#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

namespace {

bool write_new_file(const std::string& path, const unsigned char* data, size_t len, mode_t mode) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, mode);
  if (fd < 0) {
    std::fprintf(stderr, "hix-keygen: %s: %s\n", path.c_str(), std::strerror(errno));
    return false;
  }
  const ssize_t n = write(fd, data, len);
  const bool ok = n == static_cast<ssize_t>(len) && fsync(fd) == 0;
  close(fd);
  if (!ok) std::fprintf(stderr, "hix-keygen: short write to %s\n", path.c_str());
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: hix-keygen KEYFILE\n");
    return 2;
  }
  if (sodium_init() < 0) return 1;
  unsigned char pk[crypto_sign_PUBLICKEYBYTES];
  unsigned char sk[crypto_sign_SECRETKEYBYTES];
  crypto_sign_keypair(pk, sk);
  const std::string key = argv[1];
  const bool ok =
      write_new_file(key, sk, sizeof sk, 0600) && write_new_file(key + ".pub", pk, sizeof pk, 0644);
  sodium_memzero(sk, sizeof sk);
  if (!ok) return 1;
  char hex[2 * sizeof pk + 1];
  sodium_bin2hex(hex, sizeof hex, pk, sizeof pk);
  std::printf("platform public key %s\n", hex);
  return 0;
}
