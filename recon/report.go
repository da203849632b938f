// Package recon owns the hardware report a machine sends to outpostd from
// the recon image, and the parsers that build it from sysfs, procfs,
// SMBIOS, IPMI and LLDP. It knows nothing of the inventory.
package recon

// ReportVersion is the version of the report format. outpostd accepts
// reports of this version only and says so when it refuses one.
const ReportVersion = 1

// Report is what recon posts to outpostd.
type Report struct {
	Version int `json:"version"`
	// MAC is the interface the machine booted from, as on the kernel
	// command line (outpost.mac).
	BootMAC string    `json:"boot_mac"`
	System  System    `json:"system"`
	CPU     CPU       `json:"cpu"`
	Memory  Memory    `json:"memory"`
	Disks   []Disk    `json:"disks"`
	NICs    []NIC     `json:"nics"`
	PCI     []PCIDev  `json:"pci,omitempty"`
	BMC     *BMC      `json:"bmc,omitempty"`
	LLDP    []LLDP    `json:"lldp,omitempty"`
	Errors  []string  `json:"errors,omitempty"` // collectors that failed, and why
	Agent   AgentInfo `json:"agent"`
}

// AgentInfo identifies the recon build that made the report.
type AgentInfo struct {
	Version string `json:"version"`
	Kernel  string `json:"kernel,omitempty"`
}

// System is SMBIOS types 0, 1, 2 and 3.
type System struct {
	Manufacturer    string `json:"manufacturer"`
	Product         string `json:"product"`
	Serial          string `json:"serial"`
	UUID            string `json:"uuid"`
	BoardSerial     string `json:"board_serial,omitempty"`
	ChassisSerial   string `json:"chassis_serial,omitempty"`
	BIOSVendor      string `json:"bios_vendor,omitempty"`
	BIOSVersion     string `json:"bios_version,omitempty"`
	BIOSDate        string `json:"bios_date,omitempty"`
	ChassisAssetTag string `json:"chassis_asset_tag,omitempty"`
}

// CPU sums up the processors.
type CPU struct {
	Sockets int    `json:"sockets"`
	Model   string `json:"model"`
	Cores   int    `json:"cores"`   // physical cores, all sockets
	Threads int    `json:"threads"` // logical CPUs, all sockets
}

// Memory is the total and each DIMM.
type Memory struct {
	TotalBytes uint64 `json:"total_bytes"`
	DIMMs      []DIMM `json:"dimms,omitempty"`
}

// DIMM is one populated memory device (SMBIOS type 17).
type DIMM struct {
	Slot      string `json:"slot"`
	SizeBytes uint64 `json:"size_bytes"`
	SpeedMTs  int    `json:"speed_mts,omitempty"`
	Type      string `json:"type,omitempty"`
	Vendor    string `json:"vendor,omitempty"`
	Serial    string `json:"serial,omitempty"`
}

// DiskType classifies a block device.
type DiskType string

// Disk types.
const (
	DiskHDD  DiskType = "hdd"
	DiskSSD  DiskType = "ssd"
	DiskNVMe DiskType = "nvme"
)

// Disk is one whole block device.
type Disk struct {
	Name       string      `json:"name"` // sda, nvme0n1, vda
	SizeBytes  uint64      `json:"size_bytes"`
	Model      string      `json:"model,omitempty"`
	Serial     string      `json:"serial,omitempty"`
	WWN        string      `json:"wwn,omitempty"`
	Type       DiskType    `json:"type"`
	Removable  bool        `json:"removable"`
	Partitions []Partition `json:"partitions,omitempty"`
	// Table is the partition table type: "gpt", "dos" or "" for none.
	Table string `json:"table,omitempty"`
}

// Partition is one entry of a disk's partition table.
type Partition struct {
	Number    int    `json:"number"`
	StartByte uint64 `json:"start_bytes"`
	SizeBytes uint64 `json:"size_bytes"`
	Type      string `json:"type,omitempty"` // GPT type GUID or MBR type byte, as text
	Name      string `json:"name,omitempty"`
}

// NIC is one physical network interface.
type NIC struct {
	Name      string `json:"name"`
	MAC       string `json:"mac"`
	Driver    string `json:"driver,omitempty"`
	PCI       string `json:"pci,omitempty"` // 0000:00:03.0
	Link      bool   `json:"link"`
	SpeedMbps int    `json:"speed_mbps,omitempty"`
	Booted    bool   `json:"booted"`
}

// PCIDev is one PCI function.
type PCIDev struct {
	Address  string `json:"address"`
	Vendor   string `json:"vendor"` // hex, e.g. "8086"
	Device   string `json:"device"`
	Class    string `json:"class"` // hex, e.g. "020000"
	Driver   string `json:"driver,omitempty"`
	SubVend  string `json:"subsystem_vendor,omitempty"`
	SubDev   string `json:"subsystem_device,omitempty"`
	Revision string `json:"revision,omitempty"`
}

// BMC is what in-band IPMI tells about the baseboard controller.
type BMC struct {
	DeviceID        int    `json:"device_id"`
	DeviceRevision  int    `json:"device_revision"`
	Firmware        string `json:"firmware"` // "2.45"
	IPMIVersion     string `json:"ipmi_version"`
	ManufacturerID  int    `json:"manufacturer_id"`
	ProductID       int    `json:"product_id"`
	LANChannel      int    `json:"lan_channel,omitempty"`
	IP              string `json:"ip,omitempty"`
	MAC             string `json:"mac,omitempty"`
	IPSource        string `json:"ip_source,omitempty"` // static, dhcp
	Enrolled        bool   `json:"enrolled,omitempty"`  // recon set the user outpostd asked for
	EnrollmentError string `json:"enrollment_error,omitempty"`
}

// LLDP is the neighbour heard on one interface.
type LLDP struct {
	Interface  string `json:"interface"`
	ChassisID  string `json:"chassis_id"`
	PortID     string `json:"port_id"`
	PortDesc   string `json:"port_description,omitempty"`
	SystemName string `json:"system_name,omitempty"`
	TTLSeconds int    `json:"ttl_seconds,omitempty"`
}
