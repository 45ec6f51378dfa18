-- CreateTable
CREATE TABLE "SavedComparable" (
    "id" TEXT NOT NULL,
    "userId" TEXT NOT NULL,
    "subjectId" TEXT NOT NULL,
    "comparableId" TEXT NOT NULL,
    "note" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "SavedComparable_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "SavedComparable_userId_idx" ON "SavedComparable"("userId");

-- CreateIndex
CREATE UNIQUE INDEX "SavedComparable_userId_subjectId_comparableId_key" ON "SavedComparable"("userId", "subjectId", "comparableId");

-- AddForeignKey
ALTER TABLE "SavedComparable" ADD CONSTRAINT "SavedComparable_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "SavedComparable" ADD CONSTRAINT "SavedComparable_subjectId_fkey" FOREIGN KEY ("subjectId") REFERENCES "Listing"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "SavedComparable" ADD CONSTRAINT "SavedComparable_comparableId_fkey" FOREIGN KEY ("comparableId") REFERENCES "Listing"("id") ON DELETE CASCADE ON UPDATE CASCADE;
