-- AlterEnum
-- This migration adds more than one value to an enum.
-- With PostgreSQL versions 11 and earlier, this is not possible
-- in a single migration. This can be worked around by creating
-- multiple migrations, each migration adding only one value to
-- the enum.


ALTER TYPE "ActionKind" ADD VALUE 'snapshot';
ALTER TYPE "ActionKind" ADD VALUE 'restore';

-- AlterTable
ALTER TABLE "agent_actions" ADD COLUMN     "progress" JSONB;

-- AlterTable
ALTER TABLE "snapshots" ADD COLUMN     "durationMs" INTEGER NOT NULL DEFAULT 0;
