#!/usr/bin/env bash
# Install or upgrade vigia on a Debian server (README, "Installing on a Debian server").
#
#   deploy/install.sh [--prometheus] [--alertmanager] [--grafana] [--no-start] [--root DIR]
#                     [--runbook-base URL] [--grafana-url URL]
#   deploy/install.sh --agent [--no-start] [--root DIR]      (a zone agent's box: steps 1-3, then 4a-5a)
#
#   1. Debian packages vigia needs at run time (python3-venv, Pango for PDF reports)
#   2. the system user and group "vigia" (no login, home /var/lib/vigia)
#   3. a virtualenv in /opt/vigia with this checkout installed (upgrades replace it)
#   4. /etc/vigia: vigia.yml, plans/ and web.yml from the examples, only where absent;
#      root:vigia, 0640 (secrets live here too)
#   5. /etc/systemd/system/vigia.service; daemon-reload, enable and (re)start
#   6. --prometheus: the recording and alert rules in /etc/prometheus/rules/, the runbooks in
#      /usr/share/doc/vigia/runbooks (vigia serves them at /runbooks/); each alert's runbook_url
#      points at this host's vigia (http://HOST:9842/runbooks/) unless --runbook-base names another
#      base (https, another name or port, or a Git server's "docs/runbooks/", ending in a slash), and
#      dashboard_url at --grafana-url (default http://localhost:3000)
#   6b. --alertmanager: /etc/prometheus/alertmanager.yml (alertmanager.yml.vigia beside an existing
#      one, never over it) and its template; empty secret files under /etc/prometheus/secrets, 0640
#   7. --grafana: provisioning in /etc/grafana/provisioning/, dashboards in /var/lib/grafana/dashboards/vigia
#   --agent, on the small Linux box on a zone's LAN: the same distribution, its own user "vigia-agent",
#   4a. /etc/vigia/agent.yml from examples/agent/agent.yml, only where absent (root:vigia-agent 0640);
#       the token `vigia agent add ZONE` printed at the centre goes to /etc/vigia/agent.token
#   5a. /etc/systemd/system/vigia-agent.service; enabled, started once the token is there
#
# --root DIR installs into DIR instead of / (staging, and the test suite: tests/test_install.py); the
# packages still go to this machine (its python3 builds the virtualenv) and no service is started.
# Safe to run again: that is the upgrade.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$(pwd)

root="" prometheus=0 alertmanager=0 grafana=0 start=1 agent=0
# The runbooks are served by vigia's own listener (/runbooks/<Alert>.md): a NOC desk opens them where
# it reads the alert. Default: this host's name on vigia's default port.
runbook_base="http://$(hostname -f 2>/dev/null || uname -n):9842/runbooks/" grafana_url="http://localhost:3000"
while (( $# )); do
  case "$1" in
    --root) root=$(realpath -m "$2"); shift 2 ;;
    --prometheus) prometheus=1; shift ;;
    --agent) agent=1; shift ;;
    --alertmanager) alertmanager=1; shift ;;
    --runbook-base) runbook_base=$2; shift 2 ;;
    --grafana-url) grafana_url=${2%/}; shift 2 ;;
    --grafana) grafana=1; shift ;;
    --no-start) start=0; shift ;;
    *) echo "install: unknown option $1" >&2; exit 2 ;;
  esac
done
[[ $(id -u) -eq 0 ]] || { echo "install: run as root" >&2; exit 1; }
say() { echo "install: $*"; }

# 1. packages
debs=(python3 python3-venv iproute2 libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core)
(( agent )) && debs=(python3 python3-venv)  # an agent renders no report
missing=()
for p in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if (( ${#missing[@]} )); then
  say "installing ${missing[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  say "packages: ${debs[*]} present"
fi

# 2. user: vigia, or vigia-agent on a zone's box
user=vigia
(( agent )) && user=vigia-agent
if ! grep -q "^$user:" "$root/etc/passwd" 2>/dev/null; then
  say "creating system user $user"
  useradd ${root:+--prefix "$root"} --system --user-group --home-dir "/var/lib/$user" --no-create-home \
    --shell /usr/sbin/nologin --comment "vigia monitoring" "$user"
fi
gid=$(awk -F: -v u="$user" '$1 == u {print $3}' "$root/etc/group")

# 3. virtualenv (Debian's python3, so the service depends on nothing under /root or /home)
venv="$root/opt/vigia"
[[ -x "$venv/bin/python" ]] || /usr/bin/python3 -m venv "$venv"
# Built from a copy: pip builds a source folder in place (build/, *.egg-info), so two installs
# from one checkout at once raced there, and a read-only checkout could not be installed from.
copy=$(mktemp -d)
trap 'rm -rf "$copy"' EXIT
tar -C "$SRC" -cf - --exclude=./.git --exclude=./.venv --exclude=./build --exclude='*.egg-info' \
  --exclude=./tests --exclude=./.mypy_cache --exclude=./.ruff_cache --exclude=./.hypothesis \
  --exclude=./test-artifacts --exclude=./state . | tar -C "$copy" -xf -
"$venv/bin/pip" install -q --disable-pip-version-check --upgrade "$copy[postgresql]"
install -d -m 0755 "$venv/share"
install -m 0644 README.md "$venv/share/README.md"
say "vigia $("$venv/bin/vigia" version) in /opt/vigia"

# 4. configuration: never overwritten
put_config() {  # source destination
  if [[ -e "$2" ]]; then say "keeping ${2#"$root"}"; return; fi
  install -m 0640 -o root -g "$gid" "$1" "$2"
  say "wrote ${2#"$root"}"
}
if (( agent )); then
  # 4a-5a. a zone agent: its file, its unit; it runs once its token is in place
  install -d -m 0750 -o root -g "$gid" "$root/etc/vigia"
  put_config examples/agent/agent.yml "$root/etc/vigia/agent.yml"
  install -D -m 0644 deploy/systemd/vigia-agent.service "$root/etc/systemd/system/vigia-agent.service"
  if [[ ! -s "$root/etc/vigia/agent.token" ]]; then
    say "next: set zone and centre in /etc/vigia/agent.yml, and put the token \`vigia agent add ZONE\` printed at the centre in /etc/vigia/agent.token (root:$user 0640)"
  fi
  if [[ -z "$root" && -d /run/systemd/system ]]; then
    systemctl daemon-reload
    systemctl enable vigia-agent.service
    if (( start )) && [[ -s /etc/vigia/agent.token ]]; then
      systemctl try-restart vigia-agent.service || true; systemctl start vigia-agent.service
    fi
    say "service: $(systemctl is-active vigia-agent.service || true)"
  else
    say "systemd not running here: unit installed, not started"
  fi
  say "done"
  exit 0
fi
install -d -m 0750 -o root -g "$gid" "$root/etc/vigia" "$root/etc/vigia/plans"
put_config examples/cartagena.yml "$root/etc/vigia/vigia.yml"
put_config examples/plans/cartagena-continuidad.yml "$root/etc/vigia/plans/cartagena-continuidad.yml"
put_config deploy/etc/web.yml "$root/etc/vigia/web.yml"
install -d -m 0750 -o "$(awk -F: '$1 == "vigia" {print $3}' "$root/etc/passwd")" -g "$gid" "$root/var/lib/vigia"

# 5. service
install -D -m 0644 deploy/systemd/vigia.service "$root/etc/systemd/system/vigia.service"
if [[ -z "$root" && -d /run/systemd/system ]]; then
  systemctl daemon-reload
  systemctl enable vigia.service
  if (( start )); then systemctl try-restart vigia.service || true; systemctl start vigia.service; fi
  say "service: $(systemctl is-active vigia.service || true)"
else
  say "systemd not running here: unit installed, not started"
fi

# 6. Prometheus rules (the scrape job is in deploy/prometheus/prometheus.yml: add it to the server's config)
if (( prometheus )); then
  install -d -m 0755 "$root/etc/prometheus/rules" "$root/usr/share/doc/vigia/runbooks"
  install -m 0644 docs/runbooks/*.md "$root/usr/share/doc/vigia/runbooks/"
  for rules in deploy/prometheus/rules/*.yml; do
    # The shipped links' bases, replaced as a whole (the rules name each alert's page after them).
    sed -e "s#http://localhost:9842/runbooks/#${runbook_base}#g" -e "s#http://localhost:3000/d/#${grafana_url}/d/#g" \
      "$rules" > "$root/etc/prometheus/rules/$(basename "$rules")"
    chmod 0644 "$root/etc/prometheus/rules/$(basename "$rules")"
  done
  if command -v promtool >/dev/null; then promtool check rules "$root"/etc/prometheus/rules/vigia-*.yml >/dev/null; fi
  say "Prometheus rules in /etc/prometheus/rules (add the vigia job and rule_files, then reload Prometheus)"
fi

# 6b. Alertmanager: the routing, inhibition and receivers
if (( alertmanager )); then
  pgid=$(awk -F: '$1 == "prometheus" {print $3}' "$root/etc/group")
  install -d -m 0755 "$root/etc/prometheus/alertmanager_templates"
  install -m 0644 deploy/alertmanager/vigia.tmpl "$root/etc/prometheus/alertmanager_templates/vigia.tmpl"
  install -d -m 0750 ${pgid:+-g "$pgid"} "$root/etc/prometheus/secrets"
  for secret in smtp-password webhook-token; do
    [[ -e "$root/etc/prometheus/secrets/$secret" ]] || install -m 0640 ${pgid:+-g "$pgid"} /dev/null "$root/etc/prometheus/secrets/$secret"
  done
  # An existing configuration (Debian's default, or the office's for other systems) is never
  # overwritten: vigia's goes beside it, to be merged by hand.
  am="$root/etc/prometheus/alertmanager.yml"
  [[ -e "$am" ]] && am="$root/etc/prometheus/alertmanager.yml.vigia"
  install -m 0640 ${pgid:+-g "$pgid"} deploy/alertmanager/alertmanager.yml "$am"
  say "Alertmanager configuration in ${am#"$root"}: set the receivers and the secrets, then reload Alertmanager"
fi

# 7. Grafana provisioning and dashboards
if (( grafana )); then
  install -D -m 0644 deploy/grafana/provisioning/datasources/vigia.yml "$root/etc/grafana/provisioning/datasources/vigia.yml"
  install -D -m 0644 deploy/grafana/provisioning/dashboards/vigia.yml "$root/etc/grafana/provisioning/dashboards/vigia.yml"
  install -d -m 0755 "$root/var/lib/grafana/dashboards/vigia"
  install -m 0644 deploy/grafana/dashboards/*.json "$root/var/lib/grafana/dashboards/vigia/"
  say "Grafana provisioning and dashboards installed (restart grafana-server to load them)"
fi
say "done"
