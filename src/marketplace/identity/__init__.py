"""Identity: users, passwords, sessions (access and refresh tokens), vendor API keys, platform
roles, vendor roles and memberships, and the one authorization dependency every route uses."""
