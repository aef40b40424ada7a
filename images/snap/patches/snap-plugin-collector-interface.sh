#!/usr/bin/env bash
# Patch for snap-plugin-collector-interface at the pinned commit (run in its source directory).
#
# 1. The dynamic element of /intel/procfs/iface/<interface>/<metric> is named after the
#    interface itself, so the Heka message carries a field eth0='eth0' (and 'eth0' among its
#    dimensions) where the pipeline and the dashboards expect interface='eth0'. It is named
#    "interface" here, in the catalog and in the collected metrics alike.
# 2. The tag hardware_addr is the MAC address as its six raw bytes in a string (not UTF-8).
#    It is written as text (aa:bb:cc:dd:ee:ff) here, and left out for an interface without one.
# 3. The tags are looked up with net.InterfaceByName, and an interface that is gone by then
#    (a pod's veth going away between /proc/net/dev and the lookup) failed the whole run:
#    such an interface keeps its metrics and goes without the tags mtu and hardware_addr.
# The build fails if the pinned source no longer looks as expected.
set -euo pipefail
PATCH=interface
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

file=iface/interface.go
replace_line 1 "$file" 'AddDynamicElement("interface_name", "name of interface").' \
  'AddDynamicElement("interface", "name of interface").'
expect 1 "$file" 'ns1 := plugin.NewNamespace(createNamespace(itf, ns[len(ns)-1].Value)...)'
replace_line 1 "$file" 'ns1[len(ns1)-2].Name = itf' 'ns1[len(ns1)-2].Name = "interface"'
# The tags of an interface: an error no longer fails the run (getInterfaceConfiguration, below,
# returns no tags rather than an error).
replace_line 1 "$file" 'interfaceConfiguration, err := getInterfaceConfiguration(itf)' \
  'interfaceConfiguration := getInterfaceConfiguration(itf)'
expect 1 "$file" 'Tags:      interfaceConfiguration,'
expect 1 "$file" 'func getInterfaceConfiguration(ifaceName string) (map[string]string, error) {'
# The four lines after the call ("if err != nil {", "return nil, err", "}") go with it.
awk '
  /interfaceConfiguration := getInterfaceConfiguration\(itf\)/ { print; drop = 3; next }
  drop > 0 {
    text = $0; sub(/^[ \t]+/, "", text)
    if ((drop == 3 && text != "if err != nil {") || (drop == 2 && text != "return nil, err") || (drop == 1 && text != "}")) {
      print "unexpected line after the getInterfaceConfiguration call: " $0 > "/dev/stderr"; exit 1
    }
    drop--; next
  }
  { print }
' "$file" >"$file.new" || die "$file: the getInterfaceConfiguration call is not followed by its error check"
mv "$file.new" "$file"
# The function itself, from its signature to the closing brace, replaced as a whole after
# checking that it is the one expected.
expect 1 "$file" 'tags["hardware_addr"] = string(interfaceConfig.HardwareAddr)'
expect 1 "$file" 'tags["mtu"] = strconv.Itoa(interfaceConfig.MTU)'
awk '
  /^func getInterfaceConfiguration\(ifaceName string\) \(map\[string\]string, error\) \{$/ { skip = 1; next }
  skip && /^}/ { skip = 0; next }
  !skip { print }
' "$file" >"$file.new"
mv "$file.new" "$file"
expect 0 "$file" 'func getInterfaceConfiguration('
cat >>"$file" <<'EOF'

// getInterfaceConfiguration returns the tags of an interface: its MTU and, if it has one, its
// MAC address as text; none if the interface cannot be looked up (e.g. gone since the stats).
func getInterfaceConfiguration(ifaceName string) map[string]string {
	tags := make(map[string]string)
	interfaceConfig, err := net.InterfaceByName(ifaceName)
	if err != nil {
		return tags
	}
	if len(interfaceConfig.HardwareAddr) > 0 {
		tags["hardware_addr"] = interfaceConfig.HardwareAddr.String()
	}
	tags["mtu"] = strconv.Itoa(interfaceConfig.MTU)
	return tags
}
EOF
go_format "$file"
