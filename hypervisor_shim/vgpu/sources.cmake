# The device-model sources, shared by the main build (hypervisor_shim/vgpu)
# and the clang fuzz build (tests/vgpu/fuzz), which compiles them with
# coverage instrumentation and sanitizers.
set(HIX_VGPU_SOURCE_NAMES
  status.cpp
  guest_memory.cpp
  dma.cpp
  vram_allocator.cpp
  key_ledger.cpp
  context.cpp
  sealed_chunk.cpp
  ring_auth.cpp
  crypto_engine.cpp
  cmdbuf.cpp
  executor.cpp
  cpu_backend.cpp
  peer_disk.cpp
  device.cpp)
