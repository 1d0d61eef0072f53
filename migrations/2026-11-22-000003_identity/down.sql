DROP TABLE refresh_tokens;
DROP TABLE role_grants;
DROP TABLE users;
DROP TABLE organizations;
