# The image's default scenario (run-vm without --run): list the PCI devices,
# then find the hix-gpu and read its registers through BAR0.
echo "== PCI devices (bdf vendor:device class)"
for d in /sys/bus/pci/devices/*; do
    echo "${d##*/} $(cat "$d/vendor"):$(cat "$d/device") $(cat "$d/class")"
done
echo "== hix-probe"
hix-probe
