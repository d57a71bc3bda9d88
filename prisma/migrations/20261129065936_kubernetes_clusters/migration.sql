-- AlterEnum
ALTER TYPE "SessionState" ADD VALUE 'Lost';

-- AlterTable
ALTER TABLE "clusters" ADD COLUMN     "kubeconfigRef" TEXT,
ADD COLUMN     "namespace" TEXT NOT NULL DEFAULT 'daybox',
ADD COLUMN     "status" TEXT NOT NULL DEFAULT '';

-- AlterTable
ALTER TABLE "nodes" ADD COLUMN     "clusterCordoned" BOOLEAN NOT NULL DEFAULT false,
ADD COLUMN     "clusterStatus" TEXT,
ADD COLUMN     "lostAt" TIMESTAMP(3);
