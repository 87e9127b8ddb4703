# The enclave SDK's build rules (docs/enclave-sdk.md §1):
#
#   hix_add_enclave(NAME SOURCES src... [HEAP_SIZE bytes] [STACK_SIZE bytes])
#
# builds a static, fixed-base ELF image ${CMAKE_BINARY_DIR}/guest-enclaves/NAME.elf
# (qemu_scripts/build-image packs that folder into the guest's
# /usr/share/openhix/enclaves/). Sources may be C, C++ or assembly (.S).

# Cache (internal) variables: visible in every directory that builds or tests
# enclaves, not only below gpu_enclave_driver/.
set(HIX_SDK_DIR ${CMAKE_CURRENT_LIST_DIR} CACHE INTERNAL "enclave SDK sources")
set(HIX_ENCLAVE_OUTPUT_DIR ${CMAKE_BINARY_DIR}/guest-enclaves CACHE INTERNAL "enclave images")

# Code generation for everything that runs inside an enclave (the reasons
# are in docs/enclave-sdk.md §1).
add_library(hix_enclave_flags INTERFACE)
target_compile_options(hix_enclave_flags INTERFACE
  -ffreestanding -fno-stack-protector -fpie -mno-red-zone
  -ffunction-sections -fdata-sections -fno-asynchronous-unwind-tables
  $<$<COMPILE_LANGUAGE:CXX>:-fno-exceptions -fno-rtti -fno-threadsafe-statics>)
target_include_directories(hix_enclave_flags INTERFACE ${HIX_SDK_DIR}/include)
target_link_libraries(hix_enclave_flags INTERFACE hix_abi)

# The runtime every enclave links: entry stub, dispatcher, libc, heap,
# randombytes, ENCLU helpers.
add_library(hix_enclave_sdk STATIC
  ${HIX_SDK_DIR}/src/entry.S
  ${HIX_SDK_DIR}/src/runtime.cpp
  ${HIX_SDK_DIR}/src/rdrand.cpp
  ${HIX_SDK_DIR}/src/enclu.cpp
  ${HIX_SDK_DIR}/src/report_ecall.cpp
  ${HIX_SDK_DIR}/src/cxxabi.cpp
  ${HIX_SDK_DIR}/src/libc_string.c
  ${HIX_SDK_DIR}/src/libc_heap.c
  ${HIX_SDK_DIR}/src/libc_hosted.c)
target_link_libraries(hix_enclave_sdk PUBLIC hix_enclave_flags PRIVATE hix_warnings)

function(hix_add_enclave name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "HEAP_SIZE;STACK_SIZE" "SOURCES")
  if(NOT arg_SOURCES)
    message(FATAL_ERROR "hix_add_enclave(${name}): no SOURCES")
  endif()
  add_executable(${name} ${arg_SOURCES})
  # --no-relax: ld would turn libsodium's GOT loads into 32-bit absolute
  # immediates, which cannot hold an address at 32 TiB; the GOT stays (it is
  # final at link time and read-only in the image).
  # Debian's libsodium.a calls back into the SDK's libc, so the two are
  # searched as a group; libgcc supplies compiler helper routines.
  target_link_libraries(${name} PRIVATE hix_enclave_flags hix_warnings
    "$<LINK_GROUP:RESCAN,hix_enclave_sdk,${SODIUM_STATIC}>" gcc)
  # Size overrides come before the linker script: its DEFINED() tests only
  # see symbols defined earlier on the command line.
  if(arg_HEAP_SIZE)
    target_link_options(${name} PRIVATE -Wl,--defsym=hix_lds_heap_size=${arg_HEAP_SIZE})
  endif()
  if(arg_STACK_SIZE)
    target_link_options(${name} PRIVATE -Wl,--defsym=hix_lds_stack_size=${arg_STACK_SIZE})
  endif()
  target_link_options(${name} PRIVATE
    -nostdlib -static -no-pie
    -Wl,-T,${HIX_SDK_DIR}/enclave.ld
    -Wl,--gc-sections -Wl,--orphan-handling=error -Wl,--no-relax
    -Wl,-z,max-page-size=4096 -Wl,-z,noexecstack -Wl,-z,norelro -Wl,--build-id=none)
  set_target_properties(${name} PROPERTIES
    SUFFIX .elf
    RUNTIME_OUTPUT_DIRECTORY ${HIX_ENCLAVE_OUTPUT_DIR}
    LINK_DEPENDS ${HIX_SDK_DIR}/enclave.ld)
endfunction()
