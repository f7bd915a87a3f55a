-- LiteMaaS backend schema as the sandbox creates it (the subset litemaas-state reads and writes).
-- Source: litemaas-facts.md §3 (rh-aiservices-bu/litemaas backend/src/lib/database-migrations.ts @ v0.4.0):
-- users §3.1, api_keys §3.2, api_key_models §3.3, subscriptions §3.4, teams/models §3.5, audit_logs §3.6.
-- All timestamps are TIMESTAMP WITH TIME ZONE; triggers keep updated_at current.

CREATE EXTENSION IF NOT EXISTS pgcrypto;

CREATE OR REPLACE FUNCTION update_updated_at_column()
RETURNS TRIGGER AS $$
BEGIN
    NEW.updated_at = CURRENT_TIMESTAMP;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TABLE IF NOT EXISTS users (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    username VARCHAR(255) UNIQUE NOT NULL,
    email VARCHAR(255) UNIQUE NOT NULL,
    full_name VARCHAR(255),
    oauth_provider VARCHAR(50) NOT NULL,
    oauth_id VARCHAR(255) NOT NULL,
    roles TEXT[] DEFAULT ARRAY['user'],
    is_active BOOLEAN DEFAULT true,
    max_budget DECIMAL(10,2) DEFAULT 2000,
    tpm_limit INTEGER DEFAULT 400000,
    rpm_limit INTEGER DEFAULT 500,
    budget_duration VARCHAR(20) DEFAULT 'daily',
    sync_status VARCHAR(20) DEFAULT 'pending',
    last_login_at TIMESTAMP WITH TIME ZONE,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT users_sync_status_check CHECK (sync_status IN ('pending', 'synced', 'error')),
    UNIQUE (oauth_provider, oauth_id)
);
CREATE INDEX IF NOT EXISTS idx_users_email ON users(email);
CREATE INDEX IF NOT EXISTS idx_users_username ON users(username);
CREATE INDEX IF NOT EXISTS idx_users_oauth ON users(oauth_provider, oauth_id);

CREATE TABLE IF NOT EXISTS teams (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    name VARCHAR(255) NOT NULL,
    alias VARCHAR(255) UNIQUE,
    description TEXT,
    litellm_team_id VARCHAR(255),
    max_budget DECIMAL(10,2),
    current_spend DECIMAL(10,2) DEFAULT 0,
    budget_duration VARCHAR(20) DEFAULT 'monthly',
    tpm_limit INTEGER,
    rpm_limit INTEGER,
    allowed_models TEXT[],
    metadata JSONB DEFAULT '{}',
    is_active BOOLEAN DEFAULT true,
    created_by UUID REFERENCES users(id),
    created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE IF NOT EXISTS models (
    id VARCHAR(255) PRIMARY KEY,
    name VARCHAR(255) NOT NULL,
    provider VARCHAR(100) NOT NULL,
    description TEXT,
    category VARCHAR(100),
    context_length INTEGER,
    input_cost_per_token DECIMAL(20,10),
    output_cost_per_token DECIMAL(20,10),
    supports_vision BOOLEAN DEFAULT false,
    supports_function_calling BOOLEAN DEFAULT false,
    supports_tool_choice BOOLEAN DEFAULT false,
    supports_parallel_function_calling BOOLEAN DEFAULT false,
    supports_streaming BOOLEAN DEFAULT true,
    features TEXT[],
    availability VARCHAR(50) DEFAULT 'available',
    version VARCHAR(50),
    metadata JSONB DEFAULT '{}',
    api_base VARCHAR(255),
    tpm INTEGER,
    rpm INTEGER,
    max_tokens INTEGER,
    litellm_model_id VARCHAR(255),
    backend_model_name VARCHAR(255),
    restricted_access BOOLEAN DEFAULT false,
    encrypted_api_key TEXT,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE IF NOT EXISTS subscriptions (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    model_id VARCHAR(255) NOT NULL REFERENCES models(id),
    team_id UUID REFERENCES teams(id),
    status VARCHAR(20) NOT NULL DEFAULT 'active',
    quota_requests INTEGER NOT NULL DEFAULT 0,
    quota_tokens INTEGER NOT NULL DEFAULT 0,
    used_requests INTEGER DEFAULT 0,
    used_tokens INTEGER DEFAULT 0,
    max_budget DECIMAL(10,2),
    current_spend DECIMAL(10,2) DEFAULT 0,
    budget_duration VARCHAR(20) DEFAULT 'monthly',
    tpm_limit INTEGER,
    rpm_limit INTEGER,
    allowed_models TEXT[],
    lite_llm_key_value VARCHAR(255),
    reset_at TIMESTAMP WITH TIME ZONE,
    expires_at TIMESTAMP WITH TIME ZONE,
    last_sync_at TIMESTAMP WITH TIME ZONE,
    sync_status VARCHAR(20) DEFAULT 'pending',
    sync_error TEXT,
    status_reason TEXT,
    status_changed_at TIMESTAMP WITH TIME ZONE,
    status_changed_by UUID REFERENCES users(id),
    created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT subscriptions_status_check CHECK (
        status IN ('active', 'suspended', 'cancelled', 'expired', 'inactive', 'pending', 'denied')
    ),
    CONSTRAINT subscriptions_sync_status_check CHECK (sync_status IN ('synced', 'pending', 'error')),
    CONSTRAINT unique_user_model_subscription UNIQUE (user_id, model_id)
);
CREATE INDEX IF NOT EXISTS idx_subscriptions_user ON subscriptions(user_id);
CREATE INDEX IF NOT EXISTS idx_subscriptions_status ON subscriptions(status);

CREATE TABLE IF NOT EXISTS api_keys (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    subscription_id UUID REFERENCES subscriptions(id) ON DELETE CASCADE,
    user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name VARCHAR(255),
    key_hash VARCHAR(255) UNIQUE NOT NULL,
    key_prefix VARCHAR(20) NOT NULL,
    lite_llm_key_value VARCHAR(255),
    litellm_key_alias VARCHAR(255),
    permissions JSONB DEFAULT '{}',
    metadata JSONB DEFAULT '{}',
    tags TEXT[],
    max_budget DECIMAL(10,2),
    current_spend DECIMAL(10,2) DEFAULT 0,
    soft_budget DECIMAL(10,2),
    tpm_limit INTEGER,
    rpm_limit INTEGER,
    max_parallel_requests INTEGER,
    budget_duration VARCHAR(20),
    budget_reset_at TIMESTAMP WITH TIME ZONE,
    model_max_budget JSONB,
    model_rpm_limit JSONB,
    model_tpm_limit JSONB,
    last_used_at TIMESTAMP WITH TIME ZONE,
    expires_at TIMESTAMP WITH TIME ZONE,
    is_active BOOLEAN DEFAULT true,
    revoked_at TIMESTAMP WITH TIME ZONE,
    sync_status VARCHAR(20) DEFAULT 'pending',
    sync_error TEXT,
    last_sync_at TIMESTAMP WITH TIME ZONE,
    migration_status VARCHAR(20) DEFAULT 'pending',
    created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT api_keys_sync_status_check CHECK (sync_status IN ('synced', 'pending', 'error'))
);
CREATE INDEX IF NOT EXISTS idx_api_keys_subscription ON api_keys(subscription_id);
CREATE INDEX IF NOT EXISTS idx_api_keys_user ON api_keys(user_id);
CREATE INDEX IF NOT EXISTS idx_api_keys_prefix ON api_keys(key_prefix);
CREATE INDEX IF NOT EXISTS idx_api_keys_litellm_value ON api_keys(lite_llm_key_value);
CREATE INDEX IF NOT EXISTS idx_api_keys_lite_llm_key_value ON api_keys(lite_llm_key_value);
CREATE INDEX IF NOT EXISTS idx_api_keys_active ON api_keys(is_active);
CREATE INDEX IF NOT EXISTS idx_api_keys_litellm_key_alias ON api_keys(litellm_key_alias);

CREATE TABLE IF NOT EXISTS api_key_models (
    api_key_id UUID NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
    model_id VARCHAR(255) NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (api_key_id, model_id)
);

CREATE TABLE IF NOT EXISTS audit_logs (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID REFERENCES users(id),
    action VARCHAR(100) NOT NULL,
    resource_type VARCHAR(50) NOT NULL,
    resource_id VARCHAR(255),
    old_values JSONB,
    new_values JSONB,
    ip_address INET,
    user_agent TEXT,
    session_id VARCHAR(255),
    success BOOLEAN DEFAULT true,
    error_message TEXT,
    metadata JSONB DEFAULT '{}',
    created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX IF NOT EXISTS idx_audit_logs_user ON audit_logs(user_id);
CREATE INDEX IF NOT EXISTS idx_audit_logs_action ON audit_logs(action);
CREATE INDEX IF NOT EXISTS idx_audit_logs_created ON audit_logs(created_at);

DROP TRIGGER IF EXISTS update_users_updated_at ON users;
CREATE TRIGGER update_users_updated_at BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
DROP TRIGGER IF EXISTS update_teams_updated_at ON teams;
CREATE TRIGGER update_teams_updated_at BEFORE UPDATE ON teams
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
DROP TRIGGER IF EXISTS update_models_updated_at ON models;
CREATE TRIGGER update_models_updated_at BEFORE UPDATE ON models
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
DROP TRIGGER IF EXISTS update_subscriptions_updated_at ON subscriptions;
CREATE TRIGGER update_subscriptions_updated_at BEFORE UPDATE ON subscriptions
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
DROP TRIGGER IF EXISTS update_api_keys_updated_at ON api_keys;
CREATE TRIGGER update_api_keys_updated_at BEFORE UPDATE ON api_keys
    FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
