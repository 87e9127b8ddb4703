/*
 * OpenHIX: the hix-gpu frontend's link to the device server, one
 * SOCK_SEQPACKET packet per message (docs/specs/hix-gpu.md §10).
 *
 * Called with the BQL held (MMIO dispatch, reset, exclusive ENCLS work);
 * requests wait for their reply, so a read reflects every earlier write.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/error-report.h"
#include <sys/socket.h>
#include <sys/un.h>

#include "hw/hix/hix-gpu-link.h"

static bool hix_link_fail(HixGpuLink *l, const char *what)
{
    if (!l->failed) {
        warn_report("hix-gpu: device server link failed (%s): the device "
                    "reports an error until a reset or lock change reaches "
                    "a new server",
                    what);
    }
    l->failed = true;
    return false;
}

/* Send one message, optionally passing fd. */
static bool hix_link_send(HixGpuLink *l, uint32_t type, uint64_t tag,
                          const void *payload, uint32_t size, int fd)
{
    uint8_t buf[HIX_VGPU_MSG_MAX];
    struct hix_vgpu_msg_header h = { .type = type, .size = size, .tag = tag };
    struct iovec iov;
    struct msghdr msg = { 0 };
    union {
        char cmsg[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } control;
    ssize_t n;

    if (l->failed) {
        return false;
    }
    if (sizeof(h) + size > sizeof(buf)) {
        return hix_link_fail(l, "message too large");
    }
    memcpy(buf, &h, sizeof(h));
    memcpy(buf + sizeof(h), payload, size);
    iov.iov_base = buf;
    iov.iov_len = sizeof(h) + size;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (fd >= 0) {
        struct cmsghdr *c;
        memset(&control, 0, sizeof(control));
        msg.msg_control = control.cmsg;
        msg.msg_controllen = sizeof(control.cmsg);
        c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof(int));
    }
    do {
        n = sendmsg(l->fd, &msg, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n != (ssize_t)iov.iov_len) {
        return hix_link_fail(l, "send");
    }
    return true;
}

/* Receive the reply to (type, tag) into out (exactly size bytes). */
static bool hix_link_recv(HixGpuLink *l, uint32_t type, uint64_t tag, void *out,
                          uint32_t size)
{
    uint8_t buf[HIX_VGPU_MSG_MAX];
    struct hix_vgpu_msg_header h;
    ssize_t n;

    do {
        n = recv(l->fd, buf, sizeof(buf), 0);
    } while (n < 0 && errno == EINTR);
    if (n < (ssize_t)sizeof(h)) {
        return hix_link_fail(l, n == 0 ? "server hung up" : "receive");
    }
    memcpy(&h, buf, sizeof(h));
    if (h.type != (type | HIX_VGPU_MSG_REPLY) || h.tag != tag ||
        h.size != size || (size_t)n != sizeof(h) + size) {
        return hix_link_fail(l, "unexpected reply");
    }
    memcpy(out, buf + sizeof(h), size);
    return true;
}

static bool hix_link_call(HixGpuLink *l, uint32_t type, const void *payload,
                          uint32_t size, int fd, void *reply,
                          uint32_t reply_size)
{
    const uint64_t tag = ++l->next_tag;

    return hix_link_send(l, type, tag, payload, size, fd) &&
           hix_link_recv(l, type, tag, reply, reply_size);
}

static bool hix_link_acked(HixGpuLink *l, uint32_t type, const void *payload,
                           uint32_t size, int fd)
{
    struct hix_vgpu_ack ack;

    if (!hix_link_call(l, type, payload, size, fd, &ack, sizeof(ack))) {
        return false;
    }
    return ack.status == HIX_VGPU_OK || hix_link_fail(l, "request refused");
}

bool hix_gpu_link_connect(HixGpuLink *l, const char *path, Error **errp)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    struct hix_vgpu_hello hello = { .proto_version = HIX_VGPU_PROTO_VERSION };
    struct hix_vgpu_hello_reply reply;

    memset(l, 0, sizeof(*l));
    l->fd = -1;
    if (strlen(path) >= sizeof(addr.sun_path)) {
        error_setg(errp, "hix-gpu: server socket path too long: %s", path);
        return false;
    }
    strcpy(addr.sun_path, path);
    l->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (l->fd < 0 ||
        connect(l->fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        error_setg_errno(errp, errno,
                         "hix-gpu: cannot reach the device "
                         "server at %s",
                         path);
        return false;
    }
    if (!hix_link_call(l, HIX_VGPU_MSG_HELLO, &hello, sizeof(hello), -1, &reply,
                       sizeof(reply)) ||
        reply.proto_version != HIX_VGPU_PROTO_VERSION) {
        error_setg(errp,
                   "hix-gpu: the device server at %s does not speak "
                   "protocol version %u",
                   path, HIX_VGPU_PROTO_VERSION);
        return false;
    }
    return true;
}

bool hix_gpu_link_guest_ram(HixGpuLink *l, int memfd,
                            const struct hix_vgpu_ram_region *regions,
                            uint32_t count)
{
    uint8_t
        payload[sizeof(struct hix_vgpu_guest_ram) +
                HIX_VGPU_MAX_RAM_REGIONS * sizeof(struct hix_vgpu_ram_region)];
    struct hix_vgpu_guest_ram head = { .count = count };

    if (count > HIX_VGPU_MAX_RAM_REGIONS) {
        return hix_link_fail(l, "too many RAM regions");
    }
    memcpy(payload, &head, sizeof(head));
    memcpy(payload + sizeof(head), regions, count * sizeof(*regions));
    return hix_link_acked(l, HIX_VGPU_MSG_GUEST_RAM, payload,
                          sizeof(head) + count * sizeof(*regions), memfd);
}

bool hix_gpu_link_dma_deny(HixGpuLink *l, const struct hix_vgpu_range *ranges,
                           uint32_t count)
{
    uint8_t payload[sizeof(struct hix_vgpu_dma_deny) +
                    HIX_VGPU_MAX_DENY_RANGES * sizeof(struct hix_vgpu_range)];
    struct hix_vgpu_dma_deny head = { .count = count };

    if (count > HIX_VGPU_MAX_DENY_RANGES) {
        return hix_link_fail(l, "deny map too large");
    }
    memcpy(payload, &head, sizeof(head));
    memcpy(payload + sizeof(head), ranges, count * sizeof(*ranges));
    return hix_link_acked(l, HIX_VGPU_MSG_DMA_DENY, payload,
                          sizeof(head) + count * sizeof(*ranges), -1);
}

bool hix_gpu_link_read(HixGpuLink *l, uint64_t offset, unsigned size,
                       uint64_t *value)
{
    struct hix_vgpu_mmio_read r = { .offset = offset, .size = size };
    struct hix_vgpu_mmio_read_reply v;

    if (!hix_link_call(l, HIX_VGPU_MSG_MMIO_READ, &r, sizeof(r), -1, &v,
                       sizeof(v))) {
        return false;
    }
    *value = v.value;
    return true;
}

bool hix_gpu_link_write(HixGpuLink *l, uint64_t offset, unsigned size,
                        uint64_t value)
{
    struct hix_vgpu_mmio_write w = { .offset = offset,
                                     .size = size,
                                     .value = value };

    return hix_link_send(l, HIX_VGPU_MSG_MMIO_WRITE, ++l->next_tag, &w,
                         sizeof(w), -1);
}

bool hix_gpu_link_set_lock(HixGpuLink *l, bool locked, uint64_t owner)
{
    struct hix_vgpu_set_lock m = { .locked = locked, .owner = owner };

    return hix_link_acked(l, HIX_VGPU_MSG_SET_LOCK, &m, sizeof(m), -1);
}

bool hix_gpu_link_reset(HixGpuLink *l)
{
    return hix_link_acked(l, HIX_VGPU_MSG_RESET, NULL, 0, -1);
}

void hix_gpu_link_close(HixGpuLink *l)
{
    if (l->fd >= 0) {
        close(l->fd);
    }
    l->fd = -1;
    l->failed = true;
}
