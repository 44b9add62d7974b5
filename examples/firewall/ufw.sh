#!/bin/sh
# The same ports with ufw (apt-get install ufw), one block per role; run the block of the
# machine's role as root. Replace the example networks with yours.
set -e

asterisk_host() {
    ufw allow from 192.0.2.0/24 to any port 5060 proto udp comment 'SIP'
    ufw allow from 192.0.2.0/24 to any port 5060 proto tcp comment 'SIP'
    ufw allow 10000:20000/udp comment 'RTP'
}

log_server() {
    for host in 10.0.0.11 10.0.0.12; do
        ufw allow from "$host" to any port 514 proto udp comment 'syslog from Asterisk'
        ufw allow from "$host" to any port 514 proto tcp comment 'syslog from Asterisk'
    done
}

database_server() {
    ufw allow from 10.0.0.20 to any port 3306 proto tcp comment 'MySQL from sipparse'
}

ufw default deny incoming
ufw allow OpenSSH
case "${1:-}" in
    asterisk) asterisk_host ;;
    logserver) log_server ;;
    database) database_server ;;
    *) echo "usage: $0 asterisk|logserver|database" >&2; exit 2 ;;
esac
ufw --force enable
