# The image's default scenario (run-vm without --run; `openhix demo` runs it
# with a fresh nonce as $1): list the PCI devices, read the hix-gpu's
# registers through BAR0, then load the hello enclave and have it attest.
nonce=${1:-$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')}
echo "== PCI devices (bdf vendor:device class)"
for d in /sys/bus/pci/devices/*; do
    echo "${d##*/} $(cat "$d/vendor"):$(cat "$d/device") $(cat "$d/class")"
done
echo "== hix-probe"
hix-probe || exit $?
if [ -e /dev/hix ]; then
    echo "== hello enclave: load, measure, attest (report data = nonce $nonce)"
    hix-enclave-run /usr/share/openhix/enclaves/hello.elf --report "$nonce" || exit $?
elif grep -qw hix.platform=off /proc/cmdline; then
    echo "== no /dev/hix: the VM was started without HIX (run-vm --no-hix)"
else
    # The security step did not run: that is the scenario failing, not a
    # variant of it.
    echo "ERROR: no /dev/hix although the platform has HIX: hix.ko did not load (see init: above)"
    exit 3
fi
