-- AlterTable
ALTER TABLE "session_activity" ADD COLUMN     "kernelBusy" JSONB NOT NULL DEFAULT '[]';
