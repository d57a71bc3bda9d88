-- AlterEnum
ALTER TYPE "ActionKind" ADD VALUE 'park';

-- AlterEnum
ALTER TYPE "DesiredState" ADD VALUE 'parked';

-- AlterEnum
-- This migration adds more than one value to an enum.
-- With PostgreSQL versions 11 and earlier, this is not possible
-- in a single migration. This can be worked around by creating
-- multiple migrations, each migration adding only one value to
-- the enum.


ALTER TYPE "SessionState" ADD VALUE 'Snapshotting';
ALTER TYPE "SessionState" ADD VALUE 'Parked';

-- AlterTable
ALTER TABLE "sessions" ADD COLUMN     "extensionsUsed" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "keepAliveUntil" TIMESTAMP(3),
ADD COLUMN     "labels" TEXT[] DEFAULT ARRAY[]::TEXT[],
ADD COLUMN     "parkedSnapshotId" TEXT,
ADD COLUMN     "resumeRequestedAt" TIMESTAMP(3),
ADD COLUMN     "warnedAt" TIMESTAMP(3);

-- CreateTable
CREATE TABLE "session_activity" (
    "sessionId" TEXT NOT NULL,
    "collectedAt" TIMESTAMP(3) NOT NULL,
    "kernel" JSONB,
    "terminalLastActivityAt" TIMESTAMP(3),
    "gpu" JSONB NOT NULL DEFAULT '[]',
    "cpu" JSONB NOT NULL DEFAULT '[]',

    CONSTRAINT "session_activity_pkey" PRIMARY KEY ("sessionId")
);

-- AddForeignKey
ALTER TABLE "session_activity" ADD CONSTRAINT "session_activity_sessionId_fkey" FOREIGN KEY ("sessionId") REFERENCES "sessions"("id") ON DELETE CASCADE ON UPDATE CASCADE;
