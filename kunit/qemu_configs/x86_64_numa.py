# SPDX-License-Identifier: GPL-2.0
# x86_64 under TCG with two NUMA nodes, one CPU and 512 MiB each (kunit.py
# passes -m 1024), for the slice extension + NUMA kernel (kunit/slice.config):
# node_id is 1 on CPU 1 (Linux numbers the nodes in the order of the CPUs
# in the SRAT, so with one CPU per node node_id equals cpu_id; the guest of
# user/plans/slice.plan has two CPUs per node). One CPU per socket: two CPUs of one package (a
# shared last-level cache) on two nodes make the kernel warn at boot
# (set_cpu_sibling_map()). As x86_64.py otherwise.
from ..qemu_config import QemuArchParams

QEMU_ARCH = QemuArchParams(linux_arch='x86_64',
			   kconfig='''
CONFIG_SERIAL_8250=y
CONFIG_SERIAL_8250_CONSOLE=y''',
			   qemu_arch='x86_64',
			   kernel_path='arch/x86/boot/bzImage',
			   kernel_command_line='console=ttyS0 nokaslr',
			   extra_qemu_params=['-smp', '2,sockets=2', '-cpu', 'max',
					      '-object', 'memory-backend-ram,id=m0,size=512M',
					      '-object', 'memory-backend-ram,id=m1,size=512M',
					      '-numa', 'node,nodeid=0,cpus=0,memdev=m0',
					      '-numa', 'node,nodeid=1,cpus=1,memdev=m1'])
