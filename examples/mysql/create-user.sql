-- Database server: the database and a least-privilege account for sipparse.
-- Run as an administrator:  mysql -u root -p < create-user.sql
-- Replace the host part ('10.0.0.20' = the log server that runs sipparse) and the password
-- (the same as in /etc/sipparse/my.cnf).

CREATE DATABASE IF NOT EXISTS sip CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;

CREATE USER IF NOT EXISTS 'sipparse'@'10.0.0.20'
    IDENTIFIED BY 'change-me-to-a-long-random-password';

-- Rows: SELECT, INSERT, UPDATE (calls kept current), DELETE (sipparse purge).
-- Schema: sipparse creates its tables on first use and migrates them in place later.
GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX ON sip.* TO 'sipparse'@'10.0.0.20';

-- People who only troubleshoot get read access (show, calls, stats need nothing more).
CREATE USER IF NOT EXISTS 'sipviewer'@'10.0.0.%' IDENTIFIED BY 'another-long-random-password';
GRANT SELECT ON sip.* TO 'sipviewer'@'10.0.0.%';
