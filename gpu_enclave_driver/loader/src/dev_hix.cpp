// /dev/hix: the ioctls and the ELRANGE mapping of docs/specs/hix-isa.md §11.
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "hix/loader/driver.hpp"

namespace hix::loader {

namespace {

std::string errno_text(const char* what) {
  return std::string(what) + ": " + std::strerror(errno);
}

// ioctl, retried on EINTR (the driver may sleep while pinning pages).
int do_ioctl(int fd, unsigned long request, void* arg) {
  int rc = 0;
  do {
    rc = ::ioctl(fd, request, arg);
  } while (rc < 0 && errno == EINTR);
  return rc;
}

}  // namespace

Result<std::unique_ptr<DevHix>> DevHix::open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return {Status::no_device, errno_text(path.c_str())};
  return std::unique_ptr<DevHix>(new DevHix(fd));
}

DevHix::~DevHix() {
  if (mapping_ != nullptr) ::munmap(mapping_, mapping_size_);
  if (fd_ >= 0) ::close(fd_);
}

Result<hix_ioc_info> DevHix::info() {
  hix_ioc_info out{};
  if (do_ioctl(fd_, HIX_IOC_INFO, &out) < 0) return {Status::no_device, errno_text("HIX_IOC_INFO")};
  return out;
}

Outcome DevHix::create(const hix_ioc_create& request) {
  hix_ioc_create copy = request;
  if (do_ioctl(fd_, HIX_IOC_CREATE, &copy) < 0) {
    return {Status::create_failed, errno_text("HIX_IOC_CREATE")};
  }
  return {};
}

Outcome DevHix::add_pages(hix_ioc_add_pages& request) {
  if (do_ioctl(fd_, HIX_IOC_ADD_PAGES, &request) < 0) {
    return {Status::add_failed, errno_text("HIX_IOC_ADD_PAGES")};
  }
  return {};
}

Outcome DevHix::init(hix_ioc_init& result) {
  if (do_ioctl(fd_, HIX_IOC_INIT, &result) < 0) {
    return {Status::init_failed, errno_text("HIX_IOC_INIT")};
  }
  return {};
}

Outcome DevHix::glock(hix_ioc_glock& request) {
  if (do_ioctl(fd_, HIX_IOC_GLOCK, &request) < 0) {
    return {Status::lock_failed, errno_text("HIX_IOC_GLOCK")};
  }
  return {};
}

Outcome DevHix::map(LinearAddress base, std::uint64_t size) {
  // reinterpret_cast: mmap takes the linear address as a pointer.
  void* want = reinterpret_cast<void*>(base.value);  // NOLINT(performance-no-int-to-ptr)
  // NOREPLACE: fail rather than silently replace a mapping that happens to
  // sit in ELRANGE (MAP_FIXED would unmap it).
  void* got = ::mmap(want, size, PROT_READ | PROT_WRITE | PROT_EXEC,
                     MAP_SHARED | MAP_FIXED_NOREPLACE, fd_, 0);
  if (got == MAP_FAILED) return {Status::map_failed, errno_text("mmap of ELRANGE")};
  if (got != want) {
    // Kernels before 4.17 ignore MAP_FIXED_NOREPLACE and treat it as a hint.
    ::munmap(got, size);
    return {Status::map_failed, "mmap placed ELRANGE elsewhere"};
  }
  mapping_ = got;
  mapping_size_ = size;
  return {};
}

}  // namespace hix::loader
