# OpenHIX device set: q35 with PCI Express root ports, the hix-gpu, QEMU's
# edu device (a second bus master for the DMA attack tests), and virtio-net
# and virtio-blk on PCI (run-vm --hixd-port: hixd's network; --disk: sealed
# data read with O_DIRECT). Selected with
# configure --without-default-devices --with-devices-x86_64=openhix.
CONFIG_Q35=y
CONFIG_PCIE_PORT=y
CONFIG_HIX_GPU=y
CONFIG_EDU=y
CONFIG_ISA_DEBUG=y
CONFIG_HIX=y
CONFIG_VIRTIO_PCI=y
CONFIG_VIRTIO_NET=y
CONFIG_VIRTIO_BLK=y
