.PHONY: wheels
# manylinux2014 and musllinux_1_2 wheels for x86_64 and aarch64, and the sdist, into dist/;
# then `bash scripts/check-wheels.sh` checks them (auditwheel tags, CPython 3.10-3.13).
wheels:
	bash scripts/build-wheels.sh
