// The tensor kernels' fatbin embedded in the library (tensor_fatbin.cpp):
// the image cuModuleLoadData takes.
#pragma once

extern "C" {
extern const unsigned char hix_tensor_fatbin_begin[];
extern const unsigned char hix_tensor_fatbin_end[];
}
