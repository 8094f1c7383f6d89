-- Roles for a coachwire database: the owner runs migrations, the app role owns nothing and
-- cannot bypass row-level security. Change the passwords for anything but a local trial.
CREATE ROLE coachwire_owner LOGIN PASSWORD 'owner-change-me';
CREATE ROLE coachwire_app LOGIN PASSWORD 'app-change-me' NOSUPERUSER NOBYPASSRLS;
CREATE DATABASE coachwire OWNER coachwire_owner;
