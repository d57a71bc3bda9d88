-- AlterTable
ALTER TABLE "projects" ADD COLUMN     "webhookUrl" TEXT;
