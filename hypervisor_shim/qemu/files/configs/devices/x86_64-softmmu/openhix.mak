# OpenHIX device set: q35 with PCI Express root ports, the hix-gpu, and QEMU's
# edu device (a second bus master for the DMA attack tests). Selected with
# configure --without-default-devices --with-devices-x86_64=openhix.
CONFIG_Q35=y
CONFIG_PCIE_PORT=y
CONFIG_HIX_GPU=y
CONFIG_EDU=y
CONFIG_ISA_DEBUG=y
CONFIG_HIX=y
