-- CreateTable
CREATE TABLE "fleet_samples" (
    "id" BIGSERIAL NOT NULL,
    "at" TIMESTAMP(3) NOT NULL,
    "gpusTotal" INTEGER NOT NULL,
    "gpusAllocated" INTEGER NOT NULL,
    "gpusBusy" INTEGER NOT NULL,
    "gpusIdleAllocated" INTEGER NOT NULL,
    "gpusForJobs" INTEGER NOT NULL,
    "gpuHoursReclaimed" DOUBLE PRECISION NOT NULL,

    CONSTRAINT "fleet_samples_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "fleet_samples_at_idx" ON "fleet_samples"("at");
