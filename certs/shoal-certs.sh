#!/usr/bin/env bash
# shoal-certs.sh: a development/test PKI for Shoal in one command.
#
# Makes a cluster CA, node certificates (server + client: nodes call each other) and client
# certificates whose OU is the Shoal role (admin, operator, viewer). EC P-256 keys keep TLS
# handshakes cheap. Every signing runs `openssl ca` against a throwaway config and database in a
# temporary directory, so nothing depends on the system openssl.cnf, serial numbers are random
# (rand_serial), and --expired can set validity dates in the past (OpenSSL 3.0's `x509 -req`
# cannot backdate).
#
# Run `shoal-certs.sh --help` for usage; certs/README.md explains the files and rotation.
set -euo pipefail

PROG=shoal-certs
USAGE="usage:
  shoal-certs.sh bootstrap --dir DIR [--node NAME[=IP,IP,DNS...]]... [--client NAME:ROLE]... [--days N] [--ca-days N]
  shoal-certs.sh ca        --dir DIR [--ca-days N]
  shoal-certs.sh node      --dir DIR --name NAME [--ip IP]... [--dns NAME]... [--days N]
  shoal-certs.sh client    --dir DIR --name NAME --role admin|operator|viewer [--expired] [--days N]

bootstrap  creates DIR/ca.crt and DIR/ca.key unless they exist (an existing CA is never
           overwritten), then every node and client; leaves that exist and verify against the
           CA are kept, so re-running is safe. Without --node/--client it makes node 'node1'
           (127.0.0.1, ::1, localhost) and clients admin:admin, operator:operator, viewer:viewer.
           Run it on another DIR to get a second, independent CA.
ca         creates the CA only (no-op when it exists).
node       issues (or re-issues: that is leaf rotation) DIR/NAME.crt + DIR/NAME.key with
           OU=node, EKU serverAuth+clientAuth and SANs DNS:NAME plus every --ip/--dns; with no
           --ip/--dns the SANs are the loopback ones (127.0.0.1, ::1, localhost).
client     issues (or re-issues) DIR/NAME.crt + DIR/NAME.key with OU=ROLE and EKU clientAuth;
           --expired makes one valid only 2020-01-01..2020-01-02, for tests.

--days N     leaf validity in days (default 365)
--ca-days N  CA validity in days (default 3650)

Exit status: 0 done; 1 openssl or file error; 2 bad arguments."

die_usage() {
  echo "$PROG: $1" >&2
  echo "$USAGE" | sed -n '1,5p' >&2
  exit 2
}
die() {
  echo "$PROG: $1" >&2
  exit 1
}

command -v openssl >/dev/null 2>&1 || die "openssl not found in PATH"

# ---------------------------------------------------------------- argument checks

is_ipv4() {
  local IFS=. part
  local -a parts
  [[ $1 =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]] || return 1
  read -ra parts <<<"$1"
  for part in "${parts[@]}"; do ((10#$part <= 255)) || return 1; done
}
# Loose on purpose: openssl rejects a malformed IPv6 SAN with its own message.
is_ipv6() { [[ $1 == *:* && $1 =~ ^[0-9A-Fa-f:.]+$ ]]; }
is_ip() { is_ipv4 "$1" || is_ipv6 "$1"; }
is_dns() { [[ $1 =~ ^[A-Za-z0-9*]([-A-Za-z0-9.]*[A-Za-z0-9])?$ && ${#1} -le 253 ]]; }

# Names become file names and CNs: no slashes, no dots at the start, never "ca".
check_name() { # flag value
  [[ $2 =~ ^[A-Za-z0-9][-A-Za-z0-9_.]{0,62}$ ]] || die_usage "$1: '$2' is not a valid name (letters, digits, '-', '_', '.'; at most 63)"
  [[ $2 != ca ]] || die_usage "$1: 'ca' is reserved for the CA's own files"
}
check_role() { # flag value
  case $2 in admin | operator | viewer) ;; *) die_usage "$1: must be admin, operator or viewer (got '$2')" ;; esac
}
check_days() { # flag value
  [[ $2 =~ ^[1-9][0-9]{0,5}$ ]] || die_usage "$1: must be a positive number of days (got '$2')"
}
check_san_list() { # flag comma-separated-list
  local item
  local -a items
  IFS=, read -ra items <<<"$2"
  for item in "${items[@]}"; do
    [[ -z $item ]] || is_ip "$item" || is_dns "$item" || die_usage "$1: '$item' is neither an IP address nor a DNS name"
  done
}
need_value() { # flag remaining-arg-count
  (($2 >= 2)) || die_usage "$1 needs a value"
}

# ---------------------------------------------------------------- openssl plumbing

WORK=$(mktemp -d "${TMPDIR:-/tmp}/shoal-certs.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# Runs openssl quietly; on failure shows what it said and stops.
ossl() {
  local out
  if ! out=$(openssl "$@" 2>&1); then
    echo "$out" >&2
    die "openssl $1 failed"
  fi
}

new_key() { # path: EC P-256, written 0600 from the start (umask) so it is never readable by others
  (umask 077 && ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1")
  chmod 600 "$1"
}

# Writes an `openssl ca` config for one signing: its own database and random serials.
# $1 = extension section body (lines), $2 = dir of ca.crt/ca.key.
ca_config() {
  local db=$WORK/db.$RANDOM$RANDOM
  mkdir -p "$db/new"
  : >"$db/index.txt"
  cat >"$db/ca.cnf" <<EOF
[ ca ]
default_ca = shoal
[ shoal ]
dir = $db
database = \$dir/index.txt
new_certs_dir = \$dir/new
certificate = $2/ca.crt
private_key = $2/ca.key
rand_serial = yes
default_md = sha256
policy = policy_any
unique_subject = no
copy_extensions = none
email_in_dn = no
[ policy_any ]
organizationName = optional
organizationalUnitName = optional
commonName = supplied
[ leaf ]
$1
EOF
  echo "$db/ca.cnf"
}

make_ca() { # dir ca-days
  local dir=$1 days=$2
  if [[ -e $dir/ca.crt || -e $dir/ca.key ]]; then
    [[ -s $dir/ca.crt && -s $dir/ca.key ]] || die "$dir has only one of ca.crt and ca.key; refusing to touch it"
    echo "kept    $dir/ca.crt ($(openssl x509 -in "$dir/ca.crt" -noout -subject -nameopt RFC2253 | sed 's/^subject=//'))"
    return
  fi
  mkdir -p "$dir"
  local cnf=$WORK/ca-req.cnf
  cat >"$cnf" <<EOF
[ req ]
distinguished_name = dn
prompt = no
x509_extensions = v3_ca
[ dn ]
[ v3_ca ]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
EOF
  # A unique CN per CA: a rotation bundle holds two CAs, and distinct names keep chain
  # building and error messages unambiguous.
  local cn
  cn="shoal-ca-$(date -u +%Y%m%d%H%M%S)-$(openssl rand -hex 3)"
  new_key "$WORK/ca.key"
  ossl req -config "$cnf" -new -x509 -key "$WORK/ca.key" -sha256 -days "$days" \
    -subj "/O=shoal/OU=ca/CN=$cn" -out "$WORK/ca.crt"
  mv "$WORK/ca.key" "$dir/ca.key"
  chmod 644 "$WORK/ca.crt"
  mv "$WORK/ca.crt" "$dir/ca.crt"
  echo "made    $dir/ca.crt + ca.key (CN=$cn, $days days)"
}

# Signs a new key for NAME and moves key + cert into place together.
# $1 dir, $2 name, $3 subject, $4 extension lines, $5 days, $6 "expired" or ""
issue_leaf() {
  local dir=$1 name=$2 subj=$3 ext=$4 days=$5 expired=$6
  [[ -s $dir/ca.crt && -s $dir/ca.key ]] || die "$dir/ca.crt or ca.key missing; run: shoal-certs.sh ca --dir $dir"
  local cnf key=$WORK/$name.key csr=$WORK/$name.csr crt=$WORK/$name.crt
  cnf=$(ca_config "$ext" "$dir")
  new_key "$key"
  ossl req -new -key "$key" -subj "$subj" -config "$cnf" -out "$csr"
  local -a validity=(-days "$days")
  [[ $expired != expired ]] || validity=(-startdate 20200101000000Z -enddate 20200102000000Z)
  ossl ca -batch -notext -config "$cnf" -extensions leaf -preserveDN "${validity[@]}" -in "$csr" -out "$crt"
  # Check before replacing anything: a bad leaf must not clobber a working one.
  # An expired leaf cannot verify now, and its CA did not exist yet in 2020: check the chain
  # and signature without the clock.
  local -a notime=()
  [[ $expired != expired ]] || notime=(-no_check_time)
  ossl verify "${notime[@]}" -CAfile "$dir/ca.crt" "$crt"
  chmod 644 "$crt"
  mv "$key" "$dir/$name.key"
  mv "$crt" "$dir/$name.crt"
  rm -f "$csr"
  describe "made   " "$dir/$name.crt"
}

describe() { # verb cert
  local subject san end
  subject=$(openssl x509 -in "$2" -noout -subject -nameopt RFC2253 | sed 's/^subject=//')
  san=$(openssl x509 -in "$2" -noout -ext subjectAltName 2>/dev/null | sed -n '2p' | sed 's/^ *//; s/IP Address:/IP:/g')
  end=$(openssl x509 -in "$2" -noout -enddate | sed 's/^notAfter=//')
  echo "$1 $2 ($subject${san:+; $san}; until $end)"
}

# True when DIR/NAME.crt exists, has the wanted subject, matches its key and chains to
# DIR/ca.crt now; bootstrap keeps such a leaf instead of re-issuing it.
leaf_ok() { # dir name subject(RFC 2253, e.g. CN=x,OU=node,O=shoal)
  [[ -s $1/$2.crt && -s $1/$2.key ]] || return 1
  [[ $(openssl x509 -in "$1/$2.crt" -noout -subject -nameopt RFC2253 2>/dev/null) == "subject=$3" ]] || return 1
  openssl verify -CAfile "$1/ca.crt" "$1/$2.crt" >/dev/null 2>&1 || return 1
  [[ $(openssl x509 -in "$1/$2.crt" -noout -pubkey 2>/dev/null) == "$(openssl pkey -in "$1/$2.key" -pubout 2>/dev/null)" ]]
}

leaf_common="basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid"

make_node() { # dir name days san-list(comma-separated, may be empty)
  local dir=$1 name=$2 days=$3 list=$4 item
  local -a sans=()
  if [[ -z $list ]]; then list="127.0.0.1,::1,localhost"; fi
  local seen=",DNS:$name,"
  sans+=("DNS:$name")
  IFS=, read -ra items <<<"$list"
  for item in "${items[@]}"; do
    [[ -n $item ]] || continue
    local entry
    if is_ip "$item"; then entry="IP:$item"; else entry="DNS:$item"; fi
    [[ $seen == *",$entry,"* ]] && continue
    seen+="$entry,"
    sans+=("$entry")
  done
  local san_line
  san_line=$(IFS=,; echo "${sans[*]}")
  issue_leaf "$dir" "$name" "/O=shoal/OU=node/CN=$name" "$leaf_common
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = $san_line" "$days" ""
}

make_client() { # dir name role days expired
  issue_leaf "$1" "$2" "/O=shoal/OU=$3/CN=$2" "$leaf_common
extendedKeyUsage = clientAuth" "$4" "$5"
}

# ---------------------------------------------------------------- commands

[[ $# -ge 1 ]] || die_usage "missing command (bootstrap, ca, node or client)"
cmd=$1
shift
case $cmd in
-h | --help | help)
  echo "$USAGE"
  exit 0
  ;;
bootstrap | ca | node | client) ;;
*) die_usage "unknown command '$cmd' (bootstrap, ca, node or client)" ;;
esac

dir="" name="" role="" days=365 ca_days=3650 expired=""
declare -a nodes=() clients=() ips=() dnss=()
while [[ $# -gt 0 ]]; do
  flag=$1
  case $flag in
  -h | --help)
    echo "$USAGE"
    exit 0
    ;;
  --dir | --days | --ca-days | --name | --role | --ip | --dns | --node | --client)
    need_value "$flag" $#
    value=$2
    shift 2
    ;;
  --expired)
    expired=expired
    shift
    ;;
  *) die_usage "unknown flag '$flag' for '$cmd'" ;;
  esac
  # Reject flags the command does not take, naming them, rather than ignoring them.
  case "$cmd:$flag" in
  *:--dir | bootstrap:--days | bootstrap:--ca-days | bootstrap:--node | bootstrap:--client | ca:--ca-days | \
    node:--name | node:--ip | node:--dns | node:--days | client:--name | client:--role | client:--days | client:--expired) ;;
  *) die_usage "$flag is not a flag of '$cmd'" ;;
  esac
  case $flag in
  --dir) dir=$value ;;
  --days)
    check_days --days "$value"
    days=$value
    ;;
  --ca-days)
    check_days --ca-days "$value"
    ca_days=$value
    ;;
  --name) name=$value ;;
  --role) role=$value ;;
  --ip)
    is_ip "$value" || die_usage "--ip: '$value' is not an IP address"
    ips+=("$value")
    ;;
  --dns)
    is_dns "$value" || die_usage "--dns: '$value' is not a DNS name"
    dnss+=("$value")
    ;;
  --node)
    check_name --node "${value%%=*}"
    [[ $value != *=* ]] || check_san_list --node "${value#*=}"
    nodes+=("$value")
    ;;
  --client)
    [[ $value == *:* ]] || die_usage "--client: expected NAME:ROLE (got '$value')"
    check_name --client "${value%%:*}"
    check_role --client "${value#*:}"
    clients+=("$value")
    ;;
  esac
done

[[ -n $dir ]] || die_usage "--dir is required"

case $cmd in
ca) make_ca "$dir" "$ca_days" ;;
node)
  [[ -n $name ]] || die_usage "--name is required"
  check_name --name "$name"
  list=$(IFS=,; echo "${ips[*]}${ips[*]:+,}${dnss[*]}")
  make_node "$dir" "$name" "$days" "$list"
  ;;
client)
  [[ -n $name ]] || die_usage "--name is required"
  [[ -n $role ]] || die_usage "--role is required"
  check_name --name "$name"
  check_role --role "$role"
  make_client "$dir" "$name" "$role" "$days" "$expired"
  ;;
bootstrap)
  if ((${#nodes[@]} == 0 && ${#clients[@]} == 0)); then
    nodes=("node1=127.0.0.1,::1,localhost")
    clients=("admin:admin" "operator:operator" "viewer:viewer")
  fi
  make_ca "$dir" "$ca_days"
  for spec in "${nodes[@]}"; do
    n=${spec%%=*}
    list=""
    [[ $spec != *=* ]] || list=${spec#*=}
    if leaf_ok "$dir" "$n" "CN=$n,OU=node,O=shoal"; then describe "kept   " "$dir/$n.crt"; else make_node "$dir" "$n" "$days" "$list"; fi
  done
  for spec in "${clients[@]}"; do
    n=${spec%%:*}
    if leaf_ok "$dir" "$n" "CN=$n,OU=${spec#*:},O=shoal"; then describe "kept   " "$dir/$n.crt"; else make_client "$dir" "$n" "${spec#*:}" "$days" ""; fi
  done
  ;;
esac
