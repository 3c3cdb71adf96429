-- Base schema of contract §1: extensions, enums, tables, constraints,
-- updated_at triggers and the foreign-key indexes the per-organization counts
-- and lists need. The tables are empty when this runs, so plain CREATE INDEX is
-- fine here; indexes added to a live table later go CONCURRENTLY, one per migration.

CREATE EXTENSION IF NOT EXISTS citext;
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TYPE "priority_level" AS ENUM ('A', 'B', 'C', 'D');
CREATE TYPE "opportunity_stage" AS ENUM ('prospecting', 'qualification', 'proposal', 'negotiation', 'closed-won', 'closed-lost');
CREATE TYPE "interaction_type" AS ENUM ('call', 'email', 'meeting', 'note');

-- clock_timestamp(), not now(): two updates in one transaction still get
-- distinct values, so updated_at can back a strong ETag.
CREATE FUNCTION set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.updated_at := clock_timestamp();
  RETURN NEW;
END;
$$;

CREATE TABLE "users" (
  "id"         UUID         NOT NULL DEFAULT gen_random_uuid(),
  "email"      CITEXT       NOT NULL,
  "name"       VARCHAR(255) NOT NULL,
  "role"       VARCHAR(20)  NOT NULL DEFAULT 'member',
  "is_active"  BOOLEAN      NOT NULL DEFAULT true,
  "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  "updated_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT "users_pkey" PRIMARY KEY ("id"),
  CONSTRAINT "users_role_check" CHECK ("role" IN ('admin', 'member')),
  CONSTRAINT "users_name_check" CHECK (char_length("name") >= 1),
  CONSTRAINT "users_email_check" CHECK (char_length("email") BETWEEN 3 AND 255)
);
CREATE UNIQUE INDEX "users_email_key" ON "users" ("email");

CREATE TABLE "organizations" (
  "id"               UUID           NOT NULL DEFAULT gen_random_uuid(),
  "name"             VARCHAR(255)   NOT NULL,
  "industry_segment" VARCHAR(100),
  "priority_level"   "priority_level" NOT NULL DEFAULT 'C',
  "primary_email"    VARCHAR(255),
  "primary_phone"    VARCHAR(50),
  "website"          VARCHAR(255),
  "annual_revenue"   BIGINT,
  "assigned_user_id" UUID           NOT NULL,
  "is_deleted"       BOOLEAN        NOT NULL DEFAULT false,
  "created_at"       TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  "updated_at"       TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT "organizations_pkey" PRIMARY KEY ("id"),
  CONSTRAINT "organizations_name_check" CHECK (char_length("name") BETWEEN 1 AND 255),
  CONSTRAINT "organizations_annual_revenue_check" CHECK ("annual_revenue" >= 0),
  CONSTRAINT "organizations_assigned_user_id_fkey" FOREIGN KEY ("assigned_user_id")
    REFERENCES "users" ("id") ON DELETE RESTRICT ON UPDATE CASCADE
);

CREATE TABLE "contacts" (
  "id"              UUID           NOT NULL DEFAULT gen_random_uuid(),
  "organization_id" UUID           NOT NULL,
  "first_name"      VARCHAR(100)   NOT NULL,
  "last_name"       VARCHAR(100)   NOT NULL,
  "email"           VARCHAR(255),
  "phone"           VARCHAR(50),
  "title"           VARCHAR(100),
  "is_primary"      BOOLEAN        NOT NULL DEFAULT false,
  "is_deleted"      BOOLEAN        NOT NULL DEFAULT false,
  "created_at"      TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  "updated_at"      TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT "contacts_pkey" PRIMARY KEY ("id"),
  CONSTRAINT "contacts_first_name_check" CHECK (char_length("first_name") >= 1),
  CONSTRAINT "contacts_last_name_check" CHECK (char_length("last_name") >= 1),
  CONSTRAINT "contacts_organization_id_fkey" FOREIGN KEY ("organization_id")
    REFERENCES "organizations" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

CREATE TABLE "interactions" (
  "id"              UUID           NOT NULL DEFAULT gen_random_uuid(),
  "organization_id" UUID           NOT NULL,
  "contact_id"      UUID,
  "user_id"         UUID           NOT NULL,
  "type"            "interaction_type" NOT NULL,
  "subject"         VARCHAR(255)   NOT NULL,
  "notes"           TEXT,
  "created_at"      TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT "interactions_pkey" PRIMARY KEY ("id"),
  CONSTRAINT "interactions_subject_check" CHECK (char_length("subject") BETWEEN 1 AND 255),
  CONSTRAINT "interactions_organization_id_fkey" FOREIGN KEY ("organization_id")
    REFERENCES "organizations" ("id") ON DELETE CASCADE ON UPDATE CASCADE,
  CONSTRAINT "interactions_contact_id_fkey" FOREIGN KEY ("contact_id")
    REFERENCES "contacts" ("id") ON DELETE SET NULL ON UPDATE CASCADE,
  CONSTRAINT "interactions_user_id_fkey" FOREIGN KEY ("user_id")
    REFERENCES "users" ("id") ON DELETE RESTRICT ON UPDATE CASCADE
);

CREATE TABLE "opportunities" (
  "id"              UUID           NOT NULL DEFAULT gen_random_uuid(),
  "organization_id" UUID           NOT NULL,
  "name"            VARCHAR(255)   NOT NULL,
  "stage"           "opportunity_stage" NOT NULL DEFAULT 'prospecting',
  "value"           DECIMAL(14,2)  NOT NULL DEFAULT 0,
  "close_date"      DATE,
  "created_at"      TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  "updated_at"      TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT "opportunities_pkey" PRIMARY KEY ("id"),
  CONSTRAINT "opportunities_name_check" CHECK (char_length("name") BETWEEN 1 AND 255),
  CONSTRAINT "opportunities_value_check" CHECK ("value" >= 0),
  CONSTRAINT "opportunities_organization_id_fkey" FOREIGN KEY ("organization_id")
    REFERENCES "organizations" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

CREATE TRIGGER "users_set_updated_at" BEFORE UPDATE ON "users"
  FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER "organizations_set_updated_at" BEFORE UPDATE ON "organizations"
  FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER "contacts_set_updated_at" BEFORE UPDATE ON "contacts"
  FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER "opportunities_set_updated_at" BEFORE UPDATE ON "opportunities"
  FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Per-organization lookups: the listing counts, the nested lists and the dashboard.
CREATE INDEX "idx_contacts_organization_active" ON "contacts" ("organization_id", "created_at" DESC, "id") WHERE "is_deleted" = false;
CREATE INDEX "idx_interactions_organization_created" ON "interactions" ("organization_id", "created_at" DESC, "id");
CREATE INDEX "idx_interactions_contact" ON "interactions" ("contact_id") WHERE "contact_id" IS NOT NULL;
CREATE INDEX "idx_interactions_user" ON "interactions" ("user_id");
CREATE INDEX "idx_opportunities_organization_stage" ON "opportunities" ("organization_id", "stage");
-- Substring name search (ILIKE '%term%') is served by trigrams; the seed's
-- to_tsvector index cannot answer that predicate.
CREATE INDEX "idx_organizations_name_trgm" ON "organizations" USING gin ("name" gin_trgm_ops) WHERE "is_deleted" = false;
