-- AlterTable
ALTER TABLE "sessions" ADD COLUMN     "cacheNodeId" TEXT;
