-- Issue 15: an agency may require a second factor of its council members (conseil syndical) or
-- of all its persons; identity reads it like the password minimum (GET /internal/tenants/{id}).
ALTER TABLE tenants ADD COLUMN mfa_requirement text NOT NULL DEFAULT 'none'
    CHECK (mfa_requirement IN ('none', 'council', 'all'));
