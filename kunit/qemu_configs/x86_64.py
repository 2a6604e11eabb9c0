# SPDX-License-Identifier: GPL-2.0
# x86_64 under TCG: kunit.py's own x86_64 parameters try KVM first, and
# nested KVM hangs on our machines.  scripts/qemu-tcg strips the -accel kvm
# and -accel hvf that kunit.py always passes.
from ..qemu_config import QemuArchParams

QEMU_ARCH = QemuArchParams(linux_arch='x86_64',
			   kconfig='''
CONFIG_SERIAL_8250=y
CONFIG_SERIAL_8250_CONSOLE=y''',
			   qemu_arch='x86_64',
			   kernel_path='arch/x86/boot/bzImage',
			   kernel_command_line='console=ttyS0 nokaslr',
			   extra_qemu_params=['-smp', '2', '-cpu', 'max'])
