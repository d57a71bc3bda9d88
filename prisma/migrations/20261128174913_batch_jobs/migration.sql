-- AlterEnum
-- This migration adds more than one value to an enum.
-- With PostgreSQL versions 11 and earlier, this is not possible
-- in a single migration. This can be worked around by creating
-- multiple migrations, each migration adding only one value to
-- the enum.


ALTER TYPE "ActionKind" ADD VALUE 'job_run';
ALTER TYPE "ActionKind" ADD VALUE 'job_stop';

-- AlterEnum
-- This migration adds more than one value to an enum.
-- With PostgreSQL versions 11 and earlier, this is not possible
-- in a single migration. This can be worked around by creating
-- multiple migrations, each migration adding only one value to
-- the enum.


ALTER TYPE "JobState" ADD VALUE 'Scheduled';
ALTER TYPE "JobState" ADD VALUE 'Cancelling';

-- AlterTable
ALTER TABLE "agent_actions" ADD COLUMN     "jobId" TEXT;

-- AlterTable
ALTER TABLE "batch_jobs" ADD COLUMN     "exitCode" INTEGER,
ADD COLUMN     "logBytes" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "name" TEXT NOT NULL DEFAULT '',
ADD COLUMN     "preemptedFor" TEXT,
ADD COLUMN     "preemptions" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "updatedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
ADD COLUMN     "version" INTEGER NOT NULL DEFAULT 0;

-- CreateTable
CREATE TABLE "job_events" (
    "id" BIGSERIAL NOT NULL,
    "jobId" TEXT NOT NULL,
    "fromState" "JobState",
    "toState" "JobState" NOT NULL,
    "reason" TEXT NOT NULL,
    "actor" TEXT NOT NULL,
    "at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "job_events_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "job_log_chunks" (
    "id" BIGSERIAL NOT NULL,
    "jobId" TEXT NOT NULL,
    "attempt" INTEGER NOT NULL,
    "data" TEXT NOT NULL,
    "at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "job_log_chunks_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "session_resumes" (
    "id" TEXT NOT NULL,
    "sessionId" TEXT NOT NULL,
    "requestedAt" TIMESTAMP(3) NOT NULL,
    "preemptionStartedAt" TIMESTAMP(3),
    "placedAt" TIMESTAMP(3),
    "nodeName" TEXT,
    "restoreMs" INTEGER,
    "restoreSource" TEXT,
    "fetchedBytes" BIGINT,
    "runningAt" TIMESTAMP(3),

    CONSTRAINT "session_resumes_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "job_events_jobId_id_idx" ON "job_events"("jobId", "id");

-- CreateIndex
CREATE INDEX "job_log_chunks_jobId_id_idx" ON "job_log_chunks"("jobId", "id");

-- CreateIndex
CREATE INDEX "session_resumes_sessionId_requestedAt_idx" ON "session_resumes"("sessionId", "requestedAt");

-- CreateIndex
CREATE INDEX "session_resumes_runningAt_idx" ON "session_resumes"("runningAt");

-- CreateIndex
CREATE INDEX "agent_actions_jobId_idx" ON "agent_actions"("jobId");

-- CreateIndex
CREATE INDEX "batch_jobs_ownerId_idx" ON "batch_jobs"("ownerId");

-- AddForeignKey
ALTER TABLE "job_events" ADD CONSTRAINT "job_events_jobId_fkey" FOREIGN KEY ("jobId") REFERENCES "batch_jobs"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "job_log_chunks" ADD CONSTRAINT "job_log_chunks_jobId_fkey" FOREIGN KEY ("jobId") REFERENCES "batch_jobs"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "session_resumes" ADD CONSTRAINT "session_resumes_sessionId_fkey" FOREIGN KEY ("sessionId") REFERENCES "sessions"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "agent_actions" ADD CONSTRAINT "agent_actions_jobId_fkey" FOREIGN KEY ("jobId") REFERENCES "batch_jobs"("id") ON DELETE CASCADE ON UPDATE CASCADE;
