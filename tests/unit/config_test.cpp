// The configuration loader: valid files, and an exact message for each kind of mistake.
#include "attest/config.hpp"

#include <gmock/gmock.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "attest/error.hpp"
#include "scoped_env.hpp"

namespace attest {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

using testing_support::ScopedEnv;

class config_test : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("attest-config-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    std::ofstream(dir_ / "vmlinuz") << "kernel";
    std::ofstream(dir_ / "initrd.img") << "initrd";
    std::ofstream(dir_ / "disk.img") << "disk";
    std::ofstream(dir_ / "bad-spec.json") << R"({"packages": 5})";
    std::ofstream(dir_ / "run-server-vm") << "#!/bin/sh\n";
    fs::permissions(dir_ / "run-server-vm", fs::perms::owner_all);
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path write(const std::string& text) {
    const auto p = dir_ / "test.json";
    std::ofstream(p) << text;
    return p;
  }
  std::string error_of(const std::string& text) {
    const auto p = write(text);
    try {
      load_config(p);
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "(no error)";
  }
  std::string prefix() const { return "config " + (dir_ / "test.json").string() + ": "; }

  fs::path dir_;
};

TEST_F(config_test, loads_a_direct_boot_machine_with_relative_paths) {
  const auto c = load_config(write(R"({
    "name": "demo", "global_timeout": 120,
    "machines": [{"name": "vm", "kernel": "vmlinuz", "initrd": "initrd.img",
                  "cmdline": "console=ttyS0", "memory_mib": 128, "vcpus": 2, "accel": "tcg",
                  "boot_timeout": 12.5, "allow_reboot": true, "qemu_args": ["-snapshot"],
                  "configure_network": false,
                  "disks": [{"path": "disk.img", "format": "raw", "read_only": true}]}]})"));
  EXPECT_EQ(c.name, "demo");
  EXPECT_EQ(c.global_timeout, std::chrono::seconds(120));
  ASSERT_EQ(c.machines.size(), 1u);
  const auto& m = c.machines[0];
  EXPECT_EQ(m.kernel, dir_ / "vmlinuz");
  EXPECT_EQ(m.initrd, dir_ / "initrd.img");
  EXPECT_EQ(m.memory_mib, 128u);
  EXPECT_EQ(m.vcpus, 2u);
  EXPECT_EQ(m.accel, Accel::tcg);
  EXPECT_EQ(m.boot_timeout, std::chrono::milliseconds(12500));
  EXPECT_TRUE(m.allow_reboot);
  EXPECT_FALSE(m.configure_network);
  EXPECT_EQ(m.qemu_args, std::vector<std::string>{"-snapshot"});
  ASSERT_EQ(m.disks.size(), 1u);
  EXPECT_TRUE(m.disks[0].read_only);
}

TEST_F(config_test, defaults_and_sorted_machines) {
  const auto c = load_config(write(R"({"machines": [
      {"name": "zeta", "start_command": "run-server-vm"},
      {"name": "alpha", "kernel": "vmlinuz"}]})"));
  EXPECT_EQ(c.global_timeout, std::chrono::seconds(3600));
  ASSERT_EQ(c.machines.size(), 2u);
  EXPECT_EQ(c.machines[0].name, "alpha");
  EXPECT_EQ(c.machines[1].name, "zeta");
  EXPECT_EQ(c.machines[0].backend, "qemu");
  EXPECT_EQ(c.machines[0].memory_mib, 256u);
  EXPECT_FALSE(c.machines[0].accel.has_value());
  EXPECT_EQ(c.machines[1].start_command, dir_ / "run-server-vm");
}

TEST_F(config_test, unreadable_file) {
  try {
    load_config(dir_ / "missing.json");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), "config " + (dir_ / "missing.json").string() +
                                         ": cannot read: No such file or directory");
  }
}

struct Case {
  const char* json;
  const char* message;  // after "config <file>: "
};

TEST_F(config_test, every_mistake_names_file_machine_and_field) {
  const Case cases[] = {
      {R"({"machines": [)",
       "not valid JSON: parse error at line 1, column 15: syntax error while parsing value - "
       "unexpected end of input; expected '[', '{', or a literal"},
      {R"([])", "expected a JSON object, got an array"},
      {R"({})", "field 'machines': missing (list the test's machines)"},
      {R"({"machines": {}})", "field 'machines': expected an array, got an object"},
      {R"({"machines": []})", "field 'machines': empty (a test needs at least one machine)"},
      {R"({"machines": [{"name":"a","kernel":"vmlinuz"}], "global_timout": 5})",
       "field 'global_timout': unknown field in the configuration (known fields: name, "
       "global_timeout, machines, vlans, network)"},
      {R"({"machines": [{"name":"a","kernel":"vmlinuz"}], "global_timeout": "1h"})",
       "field 'global_timeout': expected a number of seconds, got string \"1h\""},
      {R"({"machines": [{"name":"a","kernel":"vmlinuz"}], "global_timeout": -3})",
       "field 'global_timeout': expected a positive number of seconds, got -3"},
      {R"({"machines": [42]})", "machine #1: expected an object, got number 42"},
      {R"({"machines": [{"kernel":"vmlinuz"}]})",
       "machine #1: field 'name': missing (every machine needs a name)"},
      {R"({"machines": [{"name": 7}]})",
       "machine #1: field 'name': expected a string, got number 7"},
      {R"({"machines": [{"name": "bad name"}]})",
       "machine #1: field 'name': 'bad name' is not a valid machine name (use 1-64 letters, "
       "digits, '-' or '_')"},
      {R"({"machines": [{"name":"a","kernel":"vmlinuz"},{"name":"a","kernel":"vmlinuz"}]})",
       "machine 'a': field 'name': duplicate machine name (each machine needs its own)"},
      {R"({"machines": [{"name":"a","kernal":"vmlinuz"}]})",
       "machine 'a': field 'kernal': unknown field in a machine (known fields: name, backend, "
       "start_command, kernel, initrd, cmdline, memory_mib, vcpus, disks, accel, qemu_binary, "
       "qemu_args, firecracker_binary, cloud_hypervisor_binary, boot_timeout, allow_reboot, vlans, "
       "node_number, macs, configure_network, image)"},
      {R"({"machines": [{"name":"a","backend":"bochs","kernel":"vmlinuz"}]})",
       "machine 'a': field 'backend': unknown backend 'bochs' (known backends: qemu, firecracker, "
       "cloud-hypervisor)"},
      {R"({"machines": [{"name":"a"}]})",
       "machine 'a': field 'kernel': missing (a machine needs start_command or kernel)"},
      {R"({"machines": [{"name":"a","kernel":"vmlinuz","start_command":"run-server-vm"}]})",
       "machine 'a': field 'start_command': give either start_command or kernel, not both"},
      {R"({"machines": [{"name":"a","kernel":"nope"}]})",
       "machine 'a': field 'kernel': file DIR/nope does not exist"},
      {R"({"machines": [{"name":"a","kernel":"vmlinuz","initrd":"nope.img"}]})",
       "machine 'a': field 'initrd': file DIR/nope.img does not exist"},
      {R"({"machines": [{"name":"a","kernel":"."}]})",
       "machine 'a': field 'kernel': DIR is not a regular file"},
      {R"({"machines": [{"name":"a","start_command":"vmlinuz"}]})",
       "machine 'a': field 'start_command': DIR/vmlinuz is not executable: Permission denied"},
      {R"({"machines": [{"name":"a","kernel":"vmlinuz","memory_mib":"lots"}]})",
       "machine 'a': field 'memory_mib': expected an integer, got string \"lots\""},
      {R"({"machines": [{"name":"a","kernel":"vmlinuz","memory_mib":8}]})",
       "machine 'a': field 'memory_mib': 8 is out of range (16..1048576)"},
      {R"({"machines": [{"name":"a","kernel":"vmlinuz","vcpus":0}]})",
       "machine 'a': field 'vcpus': 0 is out of range (1..255)"},
      {R"({"machines": [{"name":"a","kernel":"vmlinuz","vcpus":1.5}]})",
       "machine 'a': field 'vcpus': expected an integer, got number 1.5"},
      {R"({"machines": [{"name":"a","kernel":"vmlinuz","accel":"hvf"}]})",
       "machine 'a': field 'accel': 'hvf' is not one of kvm, tcg, kvm:tcg"},
      {R"({"machines": [{"name":"a","kernel":"vmlinuz","allow_reboot":"yes"}]})",
       "machine 'a': field 'allow_reboot': expected true or false, got string \"yes\""},
      {R"({"machines": [{"name":"a","kernel":"vmlinuz","qemu_args":"-snapshot"}]})",
       "machine 'a': field 'qemu_args': expected an array of strings, got string \"-snapshot\""},
      {R"({"machines": [{"name":"a","kernel":"vmlinuz","qemu_args":["-m", 5]}]})",
       "machine 'a': field 'qemu_args[1]': expected a string, got number 5"},
      {R"({"machines": [{"name":"a","kernel":"vmlinuz","disks":[{"path":"nope.img"}]}]})",
       "machine 'a': field 'disks[0].path': file DIR/nope.img does not exist"},
      {R"({"machines": [{"name":"a","kernel":"vmlinuz","disks":[{"file":"disk.img"}]}]})",
       "machine 'a': field 'disks[0].file': unknown field in a disk (known fields: path, format, "
       "read_only, size_mib, id)"},
      {R"({"machines": [{"name":"a","kernel":"vmlinuz","disks":[{"format":"raw"}]}]})",
       "machine 'a': field 'disks[0]': missing path (an image) or size_mib (a fresh disk)"},
      {R"({"machines": [{"name":"a","kernel":"vmlinuz","disks":[{"path":"disk.img","size_mib":8}]}]})",
       "machine 'a': field 'disks[0]': give either path or size_mib, not both"},
      {R"({"machines": [{"name":"a","kernel":"vmlinuz","disks":[{"size_mib":0}]}]})",
       "machine 'a': field 'disks[0].size_mib': 0 is out of range (1..16777216)"},
      {R"({"machines": [{"name":"a","kernel":"vmlinuz","disks":[{"size_mib":8,"format":"qcow2"}]}]})",
       "machine 'a': field 'disks[0].format': a fresh disk (size_mib) is always raw"},
      {R"({"machines": [{"name":"a","kernel":"vmlinuz","disks":[{"size_mib":8,"read_only":true}]}]})",
       "machine 'a': field 'disks[0].read_only': a fresh disk (size_mib) is writable"},
      {R"({"machines": [{"name":"a","kernel":"vmlinuz","boot_timeout":0}]})",
       "machine 'a': field 'boot_timeout': expected a positive number of seconds, got 0"},
      {R"({"machines": [{"name":"a","start_command":"run-server-vm","initrd":"initrd.img"}]})",
       "machine 'a': field 'initrd': only valid with kernel (direct boot)"},
      {R"({"machines": [{"name":"a","image":"db.json","kernel":"vmlinuz"}]})",
       "machine 'a': field 'kernel': give either image or this field: the image brings its own"},
      {R"({"machines": [{"name":"a","image":"db.json","disks":[{"size_mib":8}]}]})",
       "machine 'a': field 'disks': give either image or this field: the image brings its own"},
      {R"({"machines": [{"name":"a","image":"db.json","backend":"firecracker"}]})",
       "machine 'a': field 'image': images boot on the qemu backend, not firecracker"},
      {R"({"machines": [{"name":"a","image":"nope.json"}]})",
       "machine 'a': field 'image': image spec DIR/nope.json: cannot read: No such file or "
       "directory"},
      {R"({"machines": [{"name":"a","image":"bad-spec.json"}]})",
       "machine 'a': field 'image': image spec DIR/bad-spec.json: field 'packages': expected an "
       "array of package names, got number 5"},
  };
  for (const auto& c : cases) {
    std::string expected = prefix() + c.message;
    for (auto p = expected.find("DIR"); p != std::string::npos; p = expected.find("DIR"))
      expected.replace(p, 3, dir_.string());
    EXPECT_EQ(error_of(c.json), expected) << c.json;
  }
}

// Found by tests/fuzz (corpus/config/number-overflow): the JSON parser reports such a number as
// out_of_range rather than parse_error, and it escaped parse_config as a json exception.
TEST_F(config_test, a_number_too_large_for_a_double_is_a_config_error) {
  EXPECT_EQ(error_of(R"({"machines": [{"name":"a","kernel":"vmlinuz"}], "global_timeout": 1e400})"),
            prefix() + "not valid JSON: number overflow parsing '1e400'");
  EXPECT_THROW(parse_config(R"({"machines": [-1e999]})", "x.json", dir_), ConfigError);
}

TEST_F(config_test, errors_carry_the_machine_name) {
  write(R"({"machines": [{"name":"server","kernel":"nope"}]})");
  try {
    load_config(dir_ / "test.json");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.machine(), "server");
    EXPECT_EQ(e.operation(), "load_config");
  }
}

// Issue 23: a bad ATTEST_ACCEL was reported only when a machine started, without its name.
TEST_F(config_test, a_bad_attest_accel_fails_the_configuration_of_its_qemu_machines) {
  const std::string two_qemu_machines =
      R"({"machines": [{"name":"b","kernel":"vmlinuz"},{"name":"a","kernel":"vmlinuz"}]})";
  {
    ScopedEnv accel("ATTEST_ACCEL", "bogus");
    const std::string why =
        "environment variable ATTEST_ACCEL='bogus' is not one of kvm, tcg, kvm:tcg (it sets the "
        "accelerator of every QEMU machine; unset it to use each machine's \"accel\")";
    // The first QEMU machine in the file is named; the message says the others share it.
    EXPECT_EQ(error_of(two_qemu_machines), prefix() + "machine 'b': " + why);
    try {
      load_config(write(two_qemu_machines));
      ADD_FAILURE() << "no ConfigError";
    } catch (const ConfigError& e) {
      EXPECT_EQ(e.machine(), "b");
      EXPECT_EQ(e.operation(), "load_config");
    }
    // A configuration made in code is checked the same way (the Driver validates it).
    Config config;
    MachineConfig m;
    m.name = "vm";
    m.kernel = dir_ / "vmlinuz";
    config.machines.push_back(m);
    EXPECT_THAT([&] { validate(config); },
                ::testing::ThrowsMessage<ConfigError>("config <in memory>: machine 'vm': " + why));
    // Machines whose backend does not use the variable are not affected.
    EXPECT_NO_THROW(load_config(
        write(R"({"machines": [{"name":"fc","backend":"firecracker","kernel":"vmlinuz"}]})")));
  }
  for (const char* good : {"kvm", "tcg", "kvm:tcg", ""}) {
    ScopedEnv accel("ATTEST_ACCEL", good);
    EXPECT_NO_THROW(load_config(write(two_qemu_machines))) << "ATTEST_ACCEL=" << good;
  }
  ScopedEnv unset("ATTEST_ACCEL", std::nullopt);
  EXPECT_NO_THROW(load_config(write(two_qemu_machines)));
}

TEST(accel_test, parses_the_three_settings) {
  EXPECT_EQ(parse_accel("kvm"), Accel::kvm);
  EXPECT_EQ(parse_accel("tcg"), Accel::tcg);
  EXPECT_EQ(parse_accel("kvm:tcg"), Accel::kvm_or_tcg);
  EXPECT_EQ(to_string(Accel::kvm_or_tcg), "kvm:tcg");
  EXPECT_THROW(parse_accel("xen"), ConfigError);
}

}  // namespace
}  // namespace attest
