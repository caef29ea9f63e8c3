-- One database per service (ARCHITECTURE.md: a service never reads another's database).
-- Run once by the postgres image, on an empty data volume, as POSTGRES_USER, who owns them.
CREATE DATABASE eligibility;
CREATE DATABASE contracting;
CREATE DATABASE claims;
CREATE DATABASE publication;
