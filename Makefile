# Build and install drbd-reactor like the original's package (daemon spec §13.4):
#   make                 release binaries (cargo build --release --locked)
#   make install         into $(DESTDIR)$(PREFIX)..., /etc and the systemd unit directory
#   make deb             a .deb with debhelper (debian/), into target/deb/
#   make docs            regenerate man/*.1 and completions/ from the clap definitions
# Variables: DESTDIR (staging root, default empty), PREFIX (/usr), SYSCONFDIR (/etc),
# SYSTEMDUNITDIR (/lib/systemd/system), CARGO_FEATURES (e.g. --no-default-features for a
# build without mimalloc), NOSTRIP=1 (leave stripping to dh_strip/find-debuginfo).

PREFIX ?= /usr
SBINDIR ?= $(PREFIX)/sbin
LIBEXECDIR ?= $(PREFIX)/libexec
DATADIR ?= $(PREFIX)/share
MANDIR ?= $(DATADIR)/man
DOCDIR ?= $(DATADIR)/doc/drbd-reactor
SYSCONFDIR ?= /etc
SYSTEMDUNITDIR ?= /lib/systemd/system
BASHCOMPDIR ?= $(DATADIR)/bash-completion/completions
ZSHCOMPDIR ?= $(DATADIR)/zsh/vendor-completions
FISHCOMPDIR ?= $(DATADIR)/fish/vendor_completions.d
MIBDIR ?= $(DATADIR)/snmp/mibs

CARGO ?= cargo
CARGO_FEATURES ?=
TARGET_DIR ?= $(or $(CARGO_TARGET_DIR),target)
RELEASE := $(TARGET_DIR)/release
BINARIES := drbd-reactor drbd-reactorctl ocf-rs-wrapper
INSTALL ?= install
STRIP_FLAG := $(if $(NOSTRIP),,-s)

.PHONY: all build install uninstall docs deb clean

all: build

build:
	$(CARGO) build --release --locked $(CARGO_FEATURES) \
		-p drbd-reactor -p drbd-reactorctl -p ocf-rs-wrapper

docs:
	$(CARGO) run --locked -p drbd-reactor-docgen

# Installs what `build` made; it never builds (so that `sudo make install` needs no cargo).
install:
	@for b in $(BINARIES); do test -x $(RELEASE)/$$b || { echo "run 'make' first: $(RELEASE)/$$b missing" >&2; exit 1; }; done
	$(INSTALL) -d -m 0755 $(DESTDIR)$(SBINDIR) $(DESTDIR)$(LIBEXECDIR)/drbd-reactor
	$(INSTALL) $(STRIP_FLAG) -m 0750 $(RELEASE)/drbd-reactor $(DESTDIR)$(SBINDIR)/drbd-reactor
	$(INSTALL) $(STRIP_FLAG) -m 0750 $(RELEASE)/drbd-reactorctl $(DESTDIR)$(SBINDIR)/drbd-reactorctl
	$(INSTALL) $(STRIP_FLAG) -m 0750 $(RELEASE)/ocf-rs-wrapper $(DESTDIR)$(LIBEXECDIR)/drbd-reactor/ocf-rs-wrapper
	$(INSTALL) -d -m 0755 $(DESTDIR)$(SYSTEMDUNITDIR)
	@# the units name the binaries by path: follow PREFIX/SBINDIR/LIBEXECDIR
	for u in drbd-reactor.service ocf.rs@.service; do \
		sed -e 's,/usr/sbin/,$(SBINDIR)/,g' -e 's,/usr/libexec/,$(LIBEXECDIR)/,g' units/$$u \
			> $(DESTDIR)$(SYSTEMDUNITDIR)/$$u && chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/$$u; \
	done
	$(INSTALL) -d -m 0755 $(DESTDIR)$(SYSCONFDIR)
	@# an existing configuration is never overwritten
	test -e $(DESTDIR)$(SYSCONFDIR)/drbd-reactor.toml || \
		$(INSTALL) -m 0640 examples/drbd-reactor.toml $(DESTDIR)$(SYSCONFDIR)/drbd-reactor.toml
	$(INSTALL) -d -m 0750 $(DESTDIR)$(SYSCONFDIR)/drbd-reactor.d
	$(INSTALL) -d -m 0755 $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5
	$(INSTALL) -m 0644 man/*.1 $(DESTDIR)$(MANDIR)/man1/
	$(INSTALL) -m 0644 man/*.5 $(DESTDIR)$(MANDIR)/man5/
	$(INSTALL) -d -m 0755 $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR) $(DESTDIR)$(FISHCOMPDIR)
	for b in $(BINARIES); do \
		$(INSTALL) -m 0644 completions/bash/$$b $(DESTDIR)$(BASHCOMPDIR)/$$b; \
		$(INSTALL) -m 0644 completions/zsh/_$$b $(DESTDIR)$(ZSHCOMPDIR)/_$$b; \
		$(INSTALL) -m 0644 completions/fish/$$b.fish $(DESTDIR)$(FISHCOMPDIR)/$$b.fish; \
	done
	$(INSTALL) -d -m 0755 $(DESTDIR)$(MIBDIR)
	$(INSTALL) -m 0644 mibs/LINBIT-DRBD-REACTOR-MIB.txt $(DESTDIR)$(MIBDIR)/
	$(INSTALL) -d -m 0755 $(DESTDIR)$(DOCDIR)/examples/snippets
	$(INSTALL) -m 0644 README.md docs/migration.md $(DESTDIR)$(DOCDIR)/
	$(INSTALL) -m 0644 examples/drbd-reactor.toml examples/drbd-reactor-reload.path \
		examples/drbd-reactor-reload.service container/on-no-quorum-io-error.sh \
		$(DESTDIR)$(DOCDIR)/examples/
	$(INSTALL) -m 0644 examples/snippets/*.toml $(DESTDIR)$(DOCDIR)/examples/snippets/

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/drbd-reactor $(DESTDIR)$(SBINDIR)/drbd-reactorctl
	rm -rf $(DESTDIR)$(LIBEXECDIR)/drbd-reactor
	rm -f $(DESTDIR)$(SYSTEMDUNITDIR)/drbd-reactor.service $(DESTDIR)$(SYSTEMDUNITDIR)/ocf.rs@.service
	cd man && for p in *.1; do rm -f $(DESTDIR)$(MANDIR)/man1/$$p; done
	cd man && for p in *.5; do rm -f $(DESTDIR)$(MANDIR)/man5/$$p; done
	for b in $(BINARIES); do rm -f $(DESTDIR)$(BASHCOMPDIR)/$$b $(DESTDIR)$(ZSHCOMPDIR)/_$$b $(DESTDIR)$(FISHCOMPDIR)/$$b.fish; done
	rm -f $(DESTDIR)$(MIBDIR)/LINBIT-DRBD-REACTOR-MIB.txt
	rm -rf $(DESTDIR)$(DOCDIR)
	@echo "kept $(SYSCONFDIR)/drbd-reactor.toml and $(SYSCONFDIR)/drbd-reactor.d (your configuration)"

# Needs debhelper (>= 13) and dpkg-dev; built in a scratch copy, result in target/deb/.
deb:
	bash packaging/build-deb.sh

clean:
	$(CARGO) clean
